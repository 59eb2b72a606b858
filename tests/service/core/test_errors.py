"""Every way a request can be wrong gets a 4xx JSON error naming the field or the limit."""

import json

import httpx
import pytest

pytestmark = pytest.mark.anyio

LIMITS = {"max_inputs": 3, "max_sentence_tokens": 6, "max_body_bytes": 2000}


def check_error(response: httpx.Response, status: int, param: str | None, *words: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert "Traceback" not in response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["param"] == param, error
    for word in words:
        assert word in error["message"], error
    return error


async def post_raw(client: httpx.AsyncClient, path: str, content: str | bytes) -> httpx.Response:
    return await client.post(path, content=content, headers={"content-type": "application/json"})


@pytest.mark.parametrize(
    ("body", "param", "words"),
    [
        ('{"inputs": ["a", ', None, ["malformed JSON"]),
        ("[1, 2]", None, ["JSON object"]),
        ('{"inputs": 5}', "inputs", ["a string, a list of strings, or a list of token lists"]),
        ('{"inputs": ["a", 3]}', "inputs[1]", ["valid string"]),
        ('{"inputs": [["a", 3]]}', "inputs[0][1]", ["valid string"]),
        ('{"inputs": "a", "layers": ["1"]}', "layers[0]", ["valid integer"]),
        ('{"inputs": "a", "normalize": "yes"}', "normalize", ["boolean"]),
        ('{"inputs": "a", "pooling": "sum"}', "pooling", ["'mean'"]),
        ('{"inputs": "a", "mix": "median"}', "mix", ["'average', 'top'"]),
        ('{"inputs": "a", "pooling_mode": "mean"}', "pooling_mode", ["unknown field"]),
        ('{"layers": "all"}', "inputs", ["required"]),
    ],
)
async def test_malformed_json_and_wrong_types_name_the_field(serve_app, body, param, words):
    async with serve_app(**LIMITS) as (client, _):
        check_error(await post_raw(client, "/v1/embed", body), 400, param, *words)


async def test_an_empty_input_list_is_refused(serve_app):
    async with serve_app(**LIMITS) as (client, _):
        response = await client.post("/v1/embed", json={"inputs": []})
    check_error(response, 400, "inputs", "must not be empty")


async def test_an_empty_string_is_refused(serve_app):
    async with serve_app(**LIMITS) as (client, _):
        one = await client.post("/v1/embed", json={"inputs": ""})
        listed = await client.post("/v1/embed", json={"inputs": ["ok", "   "]})
        token = await client.post("/v1/embed", json={"inputs": [["ok", ""]]})
    check_error(one, 400, "inputs", "empty string")
    check_error(listed, 400, "inputs[1]", "no tokens")
    check_error(token, 400, "inputs[0][1]", "empty token")


async def test_too_many_inputs_names_the_limit(serve_app):
    async with serve_app(**LIMITS) as (client, _):
        response = await client.post("/v1/embed", json={"inputs": ["a", "b", "c", "d"]})
    check_error(response, 400, "inputs", "4 items", "max_inputs=3")


async def test_a_sentence_over_the_limit_without_truncate_names_the_limit(serve_app):
    async with serve_app(**LIMITS) as (client, _):
        response = await client.post("/v1/embed", json={"inputs": ["ok", "a b c d e f g"]})
    check_error(response, 400, "inputs[1]", "7 tokens", "max_sentence_tokens=6", "truncate")


async def test_a_bad_layer_index_names_the_model_layers(serve_app):
    async with serve_app(**LIMITS) as (client, _):
        response = await client.post("/v1/embed", json={"inputs": "a", "layers": [0, 3]})
        empty = await client.post("/v1/embed", json={"inputs": "a", "layers": []})
    check_error(response, 400, "layers[1]", "indices in 0..2")
    check_error(empty, 400, "layers", "non-empty list")


async def test_a_layer_index_written_as_a_whole_float_is_that_index_and_a_fraction_is_refused(
    serve_app,
):
    # JSON has one number type and the schema's "integer" admits 2.0
    async with serve_app(**LIMITS) as (client, _):
        whole = await client.post("/v1/embed", json={"inputs": "a", "layers": [2.0, 0]})
        fraction = await client.post("/v1/embed", json={"inputs": "a", "layers": [1.5]})
    assert whole.status_code == 200 and whole.json()["layers"] == [2, 0]
    assert fraction.status_code == 400 and fraction.json()["error"]["param"].startswith("layers")


async def test_mix_weights_of_the_wrong_length_are_refused(serve_app):
    async with serve_app(**LIMITS) as (client, _):
        response = await client.post(
            "/v1/embed", json={"inputs": "a", "layers": [1, 2], "mix": {"weights": [1, 2, 3]}}
        )
    check_error(response, 400, "mix.weights", "3 weights for 2 selected layers")


@pytest.mark.parametrize("weight", ["NaN", "Infinity", "-Infinity", "1e999"])
async def test_mix_weights_that_are_not_finite_are_refused(serve_app, weight):
    body = f'{{"inputs": "a", "mix": {{"weights": [0, {weight}, 1]}}}}'
    async with serve_app(**LIMITS) as (client, _):
        check_error(await post_raw(client, "/v1/embed", body), 400, "mix.weights[1]", "finite")


async def test_a_body_over_the_limit_is_413_by_content_length(serve_app):
    body = json.dumps({"inputs": ["word " * 500]})
    async with serve_app(**LIMITS) as (client, _):
        response = await post_raw(client, "/v1/embed", body)
    check_error(response, 413, None, "max_body_bytes=2000")


async def test_a_streamed_body_over_the_limit_is_413_too(serve_app):
    async def chunks():
        yield b'{"inputs": ["'
        for _ in range(100):
            yield b"word " * 10
        yield b'"]}'

    async with serve_app(**LIMITS) as (client, _):
        response = await client.post(
            "/v1/embed", content=chunks(), headers={"content-type": "application/json"}
        )
        assert "content-length" not in response.request.headers
    check_error(response, 413, None, "max_body_bytes=2000")


async def test_an_unknown_route_or_method_is_a_json_error(serve_app):
    async with serve_app(**LIMITS) as (client, _):
        unknown = await client.get("/v2/embed")
        method = await client.get("/v1/embed")
    check_error(unknown, 404, None, "unknown route: GET /v2/embed")
    check_error(method, 405, None, "not allowed")


async def test_a_missing_api_key_is_401(serve_app):
    async with serve_app(api_key="k", **LIMITS) as (client, _):
        response = await client.post("/v1/embeddings", json={"input": "a"})
    assert check_error(response, 401, None, "missing API key")["code"] == "missing_api_key"


async def test_a_wrong_api_key_is_401(serve_app):
    async with serve_app(api_key="k", **LIMITS) as (client, _):
        wrong = await client.post(
            "/v1/embeddings", json={"input": "a"}, headers={"Authorization": "Bearer x"}
        )
        scheme = await client.post(
            "/v1/embeddings", json={"input": "a"}, headers={"Authorization": "Basic k"}
        )
    check_error(wrong, 401, None, "invalid API key")
    check_error(scheme, 401, None, "invalid API key")


async def test_openai_route_refuses_token_ids_unknown_models_and_other_dimensions(serve_app):
    async with serve_app(**LIMITS) as (client, _):
        ids = await client.post("/v1/embeddings", json={"input": [1, 2, 3], "model": "default"})
        nested = await client.post("/v1/embeddings", json={"input": [[1, 2]], "model": "default"})
        model = await client.post("/v1/embeddings", json={"input": "a", "model": "gpt-x"})
        dims = await client.post("/v1/embeddings", json={"input": "a", "dimensions": 16})
        empty = await client.post("/v1/embeddings", json={"input": ""})
        long = await client.post("/v1/embeddings", json={"input": "a b c d e f g"})
    check_error(ids, 400, "input", "token-id arrays are not supported")
    check_error(nested, 400, "input", "token-id arrays are not supported")
    assert check_error(model, 404, "model", "'gpt-x' does not exist")["code"] == "model_not_found"
    check_error(dims, 400, "dimensions", "32")
    check_error(empty, 400, "input", "empty string")
    check_error(long, 400, "input", "max_sentence_tokens=6")


@pytest.mark.parametrize("continuous", [True, False], ids=["continuous", "batches"])
async def test_an_unexpected_failure_is_a_generic_500_logged_once_without_details(
    serve_app, monkeypatch, caplog, continuous
):
    async with serve_app(continuous_batching=continuous) as (_, app):

        def explode(work):
            raise RuntimeError("secret internal detail")

        monkeypatch.setattr(app.state.service.scheduler.engine, "add", explode)
        transport = httpx.ASGITransport(app=app)  # an exception out of the app would raise
        with caplog.at_level("ERROR"):
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as raw:
                response = await raw.post(
                    "/v1/embed", json={"inputs": "a"}, headers={"X-Request-ID": "r1"}
                )
    requests = [r for r in caplog.records if r.getMessage() == "request r1 failed"]
    assert len(requests) == 1 and requests[0].exc_info is not None  # once, and not re-raised
    assert response.status_code == 500
    assert "secret" not in response.text and "Traceback" not in response.text
    assert response.json()["error"]["code"] == "internal_error"
    assert response.headers["x-request-id"] == "r1"


@pytest.mark.parametrize("gamma", ["1e308", "-1e39"])
async def test_a_gamma_outside_float32_is_refused_naming_it(serve_app, gamma):
    body = (
        f'{{"inputs": "hola", "mix": {{"weights": [0, 0, 0], "gamma": {gamma}}}, '
        '"pooling": "mean"}'
    )
    async with serve_app(**LIMITS) as (client, _):
        check_error(await post_raw(client, "/v1/embed", body), 400, "mix.gamma", "equal to")


async def test_a_gamma_that_overflows_the_mixed_vectors_is_a_400_never_a_non_json_200(serve_app):
    body = {"inputs": "hola que tal", "mix": {"weights": [0, 0, 0], "gamma": 3.4e38}}
    async with serve_app(**LIMITS) as (client, _):
        response = await client.post("/v1/embed", json=body)
        finite = await client.post(
            "/v1/embed", json={**body, "mix": {"weights": [0, 0, 0], "gamma": 2.0}}
        )
    check_error(response, 400, "mix.gamma", "float32's range")
    assert finite.status_code == 200
    json.loads(finite.text, parse_constant=lambda name: pytest.fail(f"{name} in a 200"))


async def test_float16_vectors_past_its_range_are_refused_naming_dtype(serve_app):
    body = {
        "inputs": "hola",
        "mix": {"weights": [0, 0, 0], "gamma": 1e30},
        "encoding_format": "base64",
        "dtype": "float16",
    }
    async with serve_app(**LIMITS) as (client, _):
        check_error(await client.post("/v1/embed", json=body), 400, "dtype", "float16's range")


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/v1/embed", '{"inputs": "x \\ud800"}', "inputs"),
        ("/v1/embed", '{"inputs": ["ok", "x \\udfff y"]}', "inputs[1]"),
        ("/v1/embed", '{"inputs": [["x", "\\ud800"]]}', "inputs[0]"),
        ("/v1/embeddings", '{"input": "x \\ud800"}', "input"),
        ("/v1/tokenize", '{"inputs": "x \\ud800"}', "inputs"),
    ],
)
async def test_a_lone_surrogate_is_a_400_on_every_post_route(serve_app, path, body, param):
    async with serve_app(**LIMITS) as (client, _):
        check_error(await post_raw(client, path, body), 400, param, "lone surrogate U+D")


@pytest.mark.parametrize(
    ("content", "headers", "status", "words"),
    [
        (b'{"inputs": "a \xff\xfe"}', {}, 400, ["not valid UTF-8", "0xff at offset 14"]),
        (b"[" * 100_000 + b"]" * 100_000, {}, 400, ["nests too deeply"]),
        (b'{"inputs": "a", "layers": [' + b"9" * 5000 + b"]}", {}, 400, ["more than 4300 digits"]),
        (
            b'{"inputs": "a"}',
            {"content-type": "text/plain"},
            415,
            ["must be application/json", "'text/plain'"],
        ),
        (b"\x1f\x8b\x08\x00", {"content-encoding": "gzip"}, 415, ["'gzip' is not supported"]),
    ],
)
async def test_a_body_that_cannot_be_parsed_is_told_why(serve_app, content, headers, status, words):
    headers = {"content-type": "application/json", **headers}
    async with serve_app() as (client, _):
        response = await client.post("/v1/embed", content=content, headers=headers)
    check_error(response, status, None, *words)


async def test_a_body_that_stops_arriving_is_a_408_after_body_timeout_s(serve_app):
    import asyncio
    import time

    async with serve_app(body_timeout_s=0.3) as (_, app):
        chunks = [{"type": "http.request", "body": b'{"inputs": "ho', "more_body": True}]

        async def receive():  # a client that sends part of its body, then nothing
            if chunks:
                return chunks.pop()
            await asyncio.sleep(30)
            return {"type": "http.disconnect"}

        sent = []

        async def send(message):
            sent.append(message)

        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
            "scheme": "http", "path": "/v1/embed", "raw_path": b"/v1/embed", "query_string": b"",
            "root_path": "", "headers": [(b"content-type", b"application/json"),
                                         (b"content-length", b"1000")],
            "client": ("127.0.0.1", 1), "server": ("test", 80), "app": app,
        }  # fmt: skip
        started = time.monotonic()
        await asyncio.wait_for(app(scope, receive, send), 10)
        waited = time.monotonic() - started
    assert sent[0]["status"] == 408 and waited < 5
    error = json.loads(b"".join(m.get("body", b"") for m in sent[1:]))["error"]
    assert error["code"] == "body_timeout" and "body_timeout_s=0.3" in error["message"]


async def test_a_request_over_max_request_tokens_is_refused_naming_the_limit(serve_app):
    async with serve_app(max_request_tokens=10, max_inputs=5) as (client, _):
        fits = await client.post("/v1/embed", json={"inputs": ["a b c d e", "f g h i j"]})
        over = await client.post("/v1/embed", json={"inputs": ["a b c d e", "f g h i j", "k"]})
    assert fits.status_code == 200
    error = check_error(over, 400, "inputs", "max_request_tokens=10", "by inputs[2]")
    assert error["code"] == "request_too_large"
