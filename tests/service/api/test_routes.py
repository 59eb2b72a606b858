import asyncio
import base64

import httpx
import numpy as np
import pytest

from elmo.inference.embedder import Embedder
from elmo.io.bundle import save_bundle
from elmo.tokenization import SentencePieceUnits, train_sentencepiece
from factories import FIXTURES, random_sentences, tiny_model
from service.api import flow
from service.app import create_app
from service.core.settings import Settings

pytestmark = pytest.mark.anyio

TEXT = "El gato come pescado."


def decode(item: dict) -> np.ndarray:
    """A base64 ``embeddings`` object → array."""
    dtype = {"float32": "<f4", "float16": "<f2"}[item["dtype"]]
    return np.frombuffer(base64.b64decode(item["data"]), dtype=dtype).reshape(item["shape"])


@pytest.fixture(scope="module")
def sentencepiece_embedder(tmp_path_factory) -> Embedder:
    lines = (FIXTURES / "corpus" / "valid.txt").read_text(encoding="utf-8").splitlines()
    units = SentencePieceUnits(train_sentencepiece(lines, vocab_size=400))
    path = tmp_path_factory.mktemp("sp-model")
    save_bundle(tiny_model(), path, tokenizer=units)
    return Embedder.from_pretrained(path)


async def test_embed_returns_tokens_offsets_and_every_layer_per_token(serve_app, embedder):
    async with serve_app() as (client, _):
        response = await client.post("/v1/embed", json={"inputs": [TEXT, "Hola !"]})
    assert response.status_code == 200
    body = response.json()
    assert (body["model"], body["dim"], body["layers"], body["mixed"]) == (
        "elmo",
        32,
        [0, 1, 2],
        False,
    )
    first = body["data"][0]
    assert first["tokens"] == ["El", "gato", "come", "pescado", "."]
    assert [TEXT[a:b] for a, b in first["offsets"]] == first["tokens"]
    assert not first["truncated"]
    expected = embedder.embed([TEXT])[0].vectors
    np.testing.assert_array_equal(np.asarray(first["embeddings"], dtype=np.float32), expected)
    assert body["usage"] == {"tokens": 7, "units": 7}


async def test_embed_equals_the_library_for_layers_mix_and_pooling(serve_app, embedder):
    weights = {"weights": [0.3, -1.0], "gamma": 2.0}
    cases = [
        ({"layers": [2, 0]}, {"layers": [2, 0]}),
        ({"mix": "top", "pooling": "max"}, {"mix": "top", "sentence_pooling": "max"}),
        (
            {"layers": [1, 2], "mix": weights, "pooling": "first_last"},
            {"layers": [1, 2], "mix": weights, "sentence_pooling": "first_last"},
        ),
    ]
    async with serve_app() as (client, _):
        for request, library in cases:
            response = await client.post("/v1/embed", json={"inputs": [TEXT], **request})
            (want,) = embedder.embed([TEXT], **library)
            got = np.asarray(response.json()["data"][0]["embeddings"], dtype=np.float32)
            expected = want.sentence if want.sentence is not None else want.vectors
            np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)


async def test_pre_tokenized_inputs_have_no_offsets(serve_app, embedder):
    tokens = [["El", "gato"], ["come", "pescado", "."]]
    async with serve_app() as (client, _):
        body = (await client.post("/v1/embed", json={"inputs": tokens, "mix": "average"})).json()
    assert [d["tokens"] for d in body["data"]] == tokens
    assert all(d["offsets"] is None for d in body["data"])
    want = embedder.embed(tokens, mix="average")
    for item, w in zip(body["data"], want, strict=True):
        np.testing.assert_allclose(np.asarray(item["embeddings"]), w.vectors, rtol=0, atol=1e-6)


async def test_base64_float32_and_float16_are_little_endian_with_a_shape(serve_app):
    async with serve_app() as (client, _):
        plain = (await client.post("/v1/embed", json={"inputs": TEXT})).json()
        b32 = (
            await client.post("/v1/embed", json={"inputs": TEXT, "encoding_format": "base64"})
        ).json()
        b16 = (
            await client.post(
                "/v1/embed", json={"inputs": TEXT, "encoding_format": "base64", "dtype": "float16"}
            )
        ).json()
    expected = np.asarray(plain["data"][0]["embeddings"], dtype=np.float32)
    assert b32["data"][0]["embeddings"]["shape"] == [3, 5, 32]
    np.testing.assert_array_equal(decode(b32["data"][0]["embeddings"]), expected)
    np.testing.assert_array_equal(decode(b16["data"][0]["embeddings"]), expected.astype(np.float16))


async def test_normalize_gives_unit_vectors(serve_app):
    async with serve_app() as (client, _):
        body = (
            await client.post(
                "/v1/embed", json={"inputs": TEXT, "mix": "average", "normalize": True}
            )
        ).json()
    vectors = np.asarray(body["data"][0]["embeddings"])
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=-1), 1.0, rtol=0, atol=1e-6)


async def test_truncate_keeps_the_first_tokens_and_says_so(serve_app, embedder):
    text = " ".join(f"w{i}" for i in range(12))
    async with serve_app(max_sentence_tokens=5) as (client, _):
        body = (await client.post("/v1/embed", json={"inputs": [text], "truncate": True})).json()
    item = body["data"][0]
    assert item["truncated"] and item["tokens"] == ["w0", "w1", "w2", "w3", "w4"]
    assert len(item["offsets"]) == 5
    np.testing.assert_array_equal(
        np.asarray(item["embeddings"], dtype=np.float32), embedder.embed_tokens([item["tokens"]])[0]
    )


async def test_sentencepiece_models_pool_pieces_into_words_and_count_units(
    serve_app, sentencepiece_embedder
):
    text = "Ishmael watched the unbelievably whale"
    async with serve_app(model=sentencepiece_embedder, max_sentence_tokens=40) as (client, _):
        tokenized = (await client.post("/v1/tokenize", json={"inputs": [text]})).json()["data"][0]
        pooled = {
            how: (
                await client.post("/v1/embed", json={"inputs": [text], "unit_pooling": how})
            ).json()
            for how in ("mean", "first", "last")
        }
        info = (await client.get("/info")).json()
    assert tokenized["tokens"] == text.split()
    assert tokenized["units"] == sum(len(p) for p in tokenized["pieces"]) > 5
    assert info["tokenizer"]["type"] == "sentencepiece"
    for how, body in pooled.items():
        want = sentencepiece_embedder.embed([text], unit_pooling=how)[0].vectors
        np.testing.assert_array_equal(np.asarray(body["data"][0]["embeddings"], np.float32), want)
        assert body["usage"] == {"tokens": 5, "units": tokenized["units"]}


async def test_truncation_of_a_sentencepiece_sentence_keeps_whole_words(
    serve_app, sentencepiece_embedder
):
    text = "unbelievably unbelievably unbelievably"
    async with serve_app(model=sentencepiece_embedder) as (client, _):
        units = (await client.post("/v1/tokenize", json={"inputs": text})).json()["data"][0]
    per_word = len(units["pieces"][0])
    async with serve_app(model=sentencepiece_embedder, max_sentence_tokens=2 * per_word + 1) as (
        client,
        _,
    ):
        body = (await client.post("/v1/embed", json={"inputs": text, "truncate": True})).json()
    assert body["data"][0]["tokens"] == ["unbelievably"] * 2
    assert body["usage"]["units"] == 2 * per_word


async def test_tokenize_reports_words_offsets_and_units(serve_app):
    async with serve_app() as (client, _):
        body = (await client.post("/v1/tokenize", json={"inputs": ["Hola, mundo!"]})).json()
    assert body["data"] == [
        {
            "index": 0,
            "tokens": ["Hola", ",", "mundo", "!"],
            "offsets": [[0, 4], [4, 5], [6, 11], [11, 12]],
            "pieces": None,
            "units": 4,
        }
    ]


async def test_models_info_health_and_ready(serve_app):
    async with serve_app(max_inputs=7, model_name="my-elmo") as (client, _):
        models = (await client.get("/v1/models")).json()
        info = (await client.get("/info")).json()
        health = await client.get("/health")
        ready = await client.get("/ready")
    assert models["object"] == "list" and models["data"][0]["id"] == "my-elmo"
    assert (info["dim"], info["num_layers"], info["tokenizer"]) == (32, 3, {"type": "words"})
    assert info["limits"]["max_inputs"] == 7
    assert set(info["limits"]) == {
        "max_inputs",
        "max_sentence_tokens",
        "max_request_tokens",
        "max_body_bytes",
        "body_timeout_s",
        "queue_size",
        "timeout_s",
        "max_batch_tokens",
        "max_batch_sentences",
        "shared_batch_sentences",
        "keep_alive_s",
    }
    assert health.json() == {"status": "ok"} and ready.json() == {"status": "ready"}


async def test_info_does_not_show_where_the_model_lies_on_the_server(embedder, tmp_path):
    import httpx

    from service.app import create_app
    from service.core.settings import Settings

    app = create_app(Settings(), embedder=embedder)
    app.state.service.model_path = tmp_path / "secret-dir" / "my-model"
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            text = (await client.get("/info")).text
    assert "secret-dir" not in text and str(tmp_path) not in text


async def test_while_the_model_process_restarts_ready_and_requests_are_quick_503s(serve_app):
    class Restarting:
        available = False

    async with serve_app() as (client, app):
        real, app.state.service.inference = app.state.service.inference, Restarting()
        ready = await client.get("/ready")
        refused = await client.post("/v1/embed", json={"inputs": "hola"})
        openai = await client.post("/v1/embeddings", json={"input": "hola"})
        app.state.service.inference = real
        back = await client.get("/ready")
    assert ready.status_code == 503 and ready.json() == {"status": "restarting"}
    assert ready.headers["retry-after"] == "5"
    for response in (refused, openai):
        assert response.status_code == 503 and response.headers["retry-after"] == "5"
        assert response.json()["error"]["code"] == "inference_unavailable"
    assert back.status_code == 200


async def test_ready_is_503_while_draining(serve_app):
    async with serve_app() as (client, app):
        app.state.service.draining = True
        response = await client.get("/ready")
        still_serving = await client.post("/v1/embed", json={"inputs": "a"})
    assert response.status_code == 503 and response.json() == {"status": "draining"}
    assert still_serving.status_code == 200


async def test_request_id_is_echoed_or_generated_and_timing_is_reported(serve_app):
    async with serve_app() as (client, _):
        given = await client.get("/health", headers={"X-Request-ID": "abc-123"})
        made = await client.post("/v1/embed", json={"inputs": "a"})
        refused = await client.post("/v1/embed", json={"inputs": ""})
    assert given.headers["x-request-id"] == "abc-123"
    assert len(made.headers["x-request-id"]) == 32
    assert refused.headers["x-request-id"] and refused.headers["server-timing"].startswith(
        "app;dur="
    )


async def test_metrics_count_requests_batches_and_padding(serve_app):
    async with serve_app() as (client, _):
        await client.post("/v1/embed", json={"inputs": ["a b c", "d"]})
        await client.post("/v1/embed", json={"inputs": []})
        await client.get("/no-such-route")
        text = (await client.get("/metrics")).text
        await client.post("/v1/embed", json={"inputs": ["a b c"]})  # units seen before
        again = (await client.get("/metrics")).text
    assert 'elmo_http_requests_total{route="/v1/embed",status="200"} 1.0' in text
    assert 'elmo_http_requests_total{route="/v1/embed",status="400"} 1.0' in text
    assert 'elmo_http_requests_total{route="unmatched",status="404"} 1.0' in text
    for name in (
        "elmo_http_request_duration_seconds_bucket",
        "elmo_queue_sentences",
        "elmo_batch_sentences_bucket",
        "elmo_batch_tokens_sum",
        "elmo_batch_padding_efficiency_bucket",
        "elmo_inference_seconds_count",
    ):
        assert name in text
    # layer 0 of "a b c" the second time: its units (and <S>, </S>) come from the cache
    assert (
        _sample(again, 'elmo_token_cache_lookups_total{result="hit"}')
        >= _sample(text, 'elmo_token_cache_lookups_total{result="hit"}') + 5
    )
    assert _sample(again, 'elmo_token_cache_lookups_total{result="miss"}') == _sample(
        text, 'elmo_token_cache_lookups_total{result="miss"}'
    )


async def test_a_token_cache_of_zero_units_keeps_nothing_across_requests(serve_app):
    async with serve_app(token_cache_units=0) as (client, _):
        for _ in range(2):
            answer = await client.post("/v1/embed", json={"inputs": ["a b c"]})
            assert answer.status_code == 200
        text = (await client.get("/metrics")).text
    assert _sample(text, 'elmo_token_cache_lookups_total{result="hit"}') == 0
    assert _sample(text, 'elmo_token_cache_lookups_total{result="miss"}') >= 10  # twice 5


def _sample(metrics: str, name: str) -> float:
    """The value of one sample line of the text exposition format."""
    (line,) = [line for line in metrics.splitlines() if line.startswith(name + " ")]
    return float(line.split()[-1])


async def test_openapi_documents_every_route_and_no_422(serve_app):
    async with serve_app() as (client, _):
        schema = (await client.get("/openapi.json")).json()
        docs = await client.get("/docs")
    assert docs.status_code == 200
    for path in ("/v1/embed", "/v1/embeddings", "/v1/tokenize", "/v1/models", "/health", "/ready"):
        assert path in schema["paths"]
    assert "422" not in str(schema["paths"]["/v1/embed"]["post"]["responses"])


async def test_api_key_guards_everything_but_health_and_readiness(serve_app):
    async with serve_app(api_key="s3cret") as (client, _):
        open_routes = [await client.get("/health"), await client.get("/ready")]
        missing = await client.post("/v1/embed", json={"inputs": "a"})
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
        right = await client.post(
            "/v1/embed", json={"inputs": "a"}, headers={"Authorization": "Bearer s3cret"}
        )
    assert all(r.status_code == 200 for r in open_routes)
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "missing_api_key"
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"
    assert missing.headers["www-authenticate"] == "Bearer"
    assert right.status_code == 200


async def test_cors_is_closed_unless_origins_are_configured(serve_app):
    preflight = {
        "Origin": "https://app.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    async with serve_app() as (client, _):
        closed = await client.options("/v1/embed", headers=preflight)
        simple = await client.get("/health", headers={"Origin": "https://app.example"})
    assert "access-control-allow-origin" not in closed.headers
    assert "access-control-allow-origin" not in simple.headers
    async with serve_app(cors_origins="https://app.example, https://b.example") as (client, _):
        allowed = await client.options("/v1/embed", headers=preflight)
        other = await client.options(
            "/v1/embed", headers={**preflight, "Origin": "https://x.example"}
        )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    assert "access-control-allow-origin" not in other.headers


async def test_large_requests_are_worked_on_in_threads_and_give_the_same_vectors(
    serve_app, embedder, monkeypatch
):
    offloaded = []
    run_sync = flow.to_thread.run_sync

    async def counting(work, *args, **kwargs):
        offloaded.append(work)
        return await run_sync(work, *args, **kwargs)

    monkeypatch.setattr(flow.to_thread, "run_sync", counting)
    texts = [" ".join(s) for s in random_sentences(100, 40, seed=2, min_words=40)]
    assert sum(map(len, texts)) > flow.INLINE_WORK
    async with serve_app() as (client, _):
        small = await client.post("/v1/embed", json={"inputs": ["a b"]})
        assert small.status_code == 200 and not offloaded
        body = (await client.post("/v1/embed", json={"inputs": texts, "mix": "top"})).json()
    assert len(offloaded) == 2  # tokenizing and encoding
    for item, want in zip(body["data"], embedder.embed(texts, mix="top"), strict=True):
        np.testing.assert_array_equal(np.asarray(item["embeddings"], np.float32), want.vectors)


async def test_a_model_that_fails_to_load_keeps_ready_503_and_routes_answer_503(tmp_path):
    (tmp_path / "config.json").write_text("{not json", encoding="utf-8")
    app = create_app(Settings(), model_path=tmp_path)
    async with app.router.lifespan_context(app):
        state = app.state.service
        for _ in range(500):
            if state.load_error:
                break
            await asyncio.sleep(0.01)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            ready = await client.get("/ready")
            embed = await client.post("/v1/embed", json={"inputs": "a"})
            health = await client.get("/health")
    assert "cannot read bundle config" in state.load_error
    assert ready.status_code == 503 and ready.json() == {"status": "failed"}
    assert embed.status_code == 503 and embed.json()["error"]["code"] == "model_not_ready"
    assert health.status_code == 200


async def test_truncating_a_sentence_whose_first_word_is_over_the_limit_is_a_400(
    serve_app, sentencepiece_embedder
):
    long_word = "zq" * 200  # hundreds of pieces in a 400-piece vocabulary
    async with serve_app(model=sentencepiece_embedder, max_sentence_tokens=40) as (client, _):
        alone = await client.post("/v1/embed", json={"inputs": long_word, "truncate": True})
        after = await client.post(
            "/v1/embed", json={"inputs": f"the {long_word}", "truncate": True}
        )
    assert alone.status_code == 400, alone.text
    error = alone.json()["error"]
    assert error["param"] == "inputs" and "max_sentence_tokens=40" in error["message"]
    assert "first word alone" in error["message"]
    assert after.status_code == 200  # a whole word fits: the rest is cut, as documented
    assert after.json()["data"][0]["tokens"] == ["the"] and after.json()["data"][0]["truncated"]


async def test_the_schema_declares_the_empty_inputs_the_server_refuses_and_metrics_as_text(
    serve_app,
):
    async with serve_app() as (client, _):
        spec = (await client.get("/openapi.json")).json()
        refused = [
            await client.post("/v1/embed", json={"inputs": ""}),
            await client.post("/v1/embed", json={"inputs": [[]]}),
            await client.post("/v1/embed", json={"inputs": []}),
            await client.post("/v1/embeddings", json={"input": ""}),
        ]
        metrics = await client.get("/metrics")
    assert all(r.status_code == 400 for r in refused)
    schemas = spec["components"]["schemas"]
    text, texts, token_lists = schemas["EmbedRequest"]["properties"]["inputs"]["anyOf"]
    assert text == {"type": "string", "minLength": 1}
    assert texts["minItems"] == 1 and texts["items"] == text
    assert token_lists["minItems"] == 1 and token_lists["items"]["minItems"] == 1
    assert schemas["OpenAIEmbeddingRequest"]["properties"]["input"]["anyOf"][0] == text
    declared = spec["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert list(declared) == ["text/plain"] and metrics.headers["content-type"].startswith(
        "text/plain"
    )


async def test_float16_as_json_floats_gives_the_values_rounded_to_half_precision(serve_app):
    async with serve_app() as (client, _):
        full = (await client.post("/v1/embed", json={"inputs": TEXT})).json()
        half = (await client.post("/v1/embed", json={"inputs": TEXT, "dtype": "float16"})).json()
    exact = np.array(full["data"][0]["embeddings"], dtype=np.float32)
    rounded = np.array(half["data"][0]["embeddings"])
    np.testing.assert_array_equal(rounded, exact.astype(np.float16).astype(np.float64))
    assert not np.array_equal(rounded, exact)


async def test_the_docs_page_loads_swagger_ui_from_the_service_not_a_cdn(serve_app):
    import re

    async with serve_app() as (client, _):
        page = (await client.get("/docs")).text
        sources = re.findall(r'(?:src|href)="([^"]+)"', page)
        assets = [await client.get(url) for url in sources]
        metrics = (await client.get("/metrics")).text
    assert sources and all(url.startswith("/docs/assets/") for url in sources), sources
    assert all(r.status_code == 200 and r.content for r in assets)
    assert "cdn" not in page.lower() and "'/openapi.json'" in page
    assert 'route="/docs/assets/*"' in metrics
