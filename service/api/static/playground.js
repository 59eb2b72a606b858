// The playground: plain JavaScript over the public API, nothing loaded from outside.
// Every URL is relative to the page, so the page works behind a path-prefix proxy.
"use strict";

const DEFAULT_SENTENCES = ["el gato come pescado", "levanté el auto con el gato"];
const KEY_STORAGE = "elmo-playground-api-key"; // this tab only: never localStorage

const $ = (id) => document.getElementById(id);
// The SVG namespace, from the chart's own element (the HTML parser sets it): no URL in here.
const SVG_NS = document.getElementById("chart-svg").namespaceURI;

function element(tag, attrs = {}, text = null) {
  const node = tag.startsWith("svg:")
    ? document.createElementNS(SVG_NS, tag.slice(4))
    : document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  if (text !== null) node.textContent = text;
  return node;
}

function addSentence(text = "") {
  const list = $("sentences");
  const index = list.children.length + 1;
  const row = element("div", { class: "sentence" });
  row.append(element("label", { for: `sentence-${index}` }, `${index}.`));
  const input = element("input", { id: `sentence-${index}`, name: "sentence" });
  input.value = text;
  row.append(input);
  list.append(row);
  return input;
}

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = false;
}

function clearError() {
  $("error").hidden = true;
  $("error").textContent = "";
}

class ApiError extends Error {}

// POST to the API; an answer that is not 2xx becomes an ApiError carrying the server's message
// from its envelope {"error": {"message", "type", "param", "code"}}.
async function post(path, body) {
  const headers = { "Content-Type": "application/json" };
  const key = $("api-key").value.trim();
  if (key) headers.Authorization = `Bearer ${key}`;
  let response;
  try {
    response = await fetch(path, { method: "POST", headers, body: JSON.stringify(body) });
  } catch (exc) {
    throw new ApiError(`the server could not be reached: ${exc.message}`);
  }
  let payload = null;
  try {
    payload = await response.json();
  } catch (exc) {
    payload = null;
  }
  if (!response.ok) {
    const error = payload && payload.error;
    if (error && error.message) {
      const details = [error.type, error.code, error.param && `param ${error.param}`]
        .filter(Boolean)
        .join(", ");
      throw new ApiError(`${response.status}: ${error.message}${details ? ` (${details})` : ""}`);
    }
    throw new ApiError(`${response.status} ${response.statusText}`);
  }
  return payload;
}

function findWord(tokens, word) {
  const wanted = word.toLocaleLowerCase();
  return tokens.findIndex((t) => t.toLocaleLowerCase() === wanted);
}

function cosine(a, b) {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return na && nb ? dot / Math.sqrt(na * nb) : 0;
}

function renderTokens(items, positions) {
  const box = $("tokens");
  box.replaceChildren();
  items.forEach((item, s) => {
    const line = element("div", { class: "tokens", "data-sentence": s + 1 });
    line.append(element("strong", {}, `${s + 1}. `));
    item.tokens.forEach((token, i) => {
      const cls = i === positions[s] ? "token target" : "token";
      line.append(element("span", { class: cls }, token));
    });
    box.append(line);
  });
}

// One bar a layer, cosine on a fixed -1..1 scale so that charts of two queries compare.
function renderChart(layers, values) {
  const width = 80 + layers.length * 90;
  const height = 240;
  const top = 20;
  const bottom = height - 40;
  const zero = top + (bottom - top) / 2;
  const scale = (bottom - top) / 2;
  const svg = $("chart-svg");
  svg.replaceChildren();
  for (const [name, value] of Object.entries({ viewBox: `0 0 ${width} ${height}`, width, height })) {
    svg.setAttribute(name, String(value));
  }
  svg.append(element("svg:line", { class: "axis", x1: 40, x2: width - 10, y1: zero, y2: zero }));
  for (const tick of [1, 0.5, 0, -0.5, -1]) {
    const y = zero - tick * scale;
    svg.append(element("svg:text", { x: 4, y: y + 4 }, tick.toFixed(1)));
    svg.append(element("svg:line", { class: "axis", x1: 36, x2: 40, y1: y, y2: y }));
  }
  layers.forEach((layer, k) => {
    const value = values[k];
    const x = 60 + k * 90;
    const y = value >= 0 ? zero - value * scale : zero;
    const bar = element("svg:rect", {
      class: "bar", x, y, width: 50, height: Math.max(1, Math.abs(value) * scale),
      "data-layer": layer, "data-cosine": value.toFixed(4),
    });
    bar.append(element("svg:title", {}, `layer ${layer}: ${value.toFixed(3)}`));
    svg.append(bar);
    const labelY = value >= 0 ? y - 4 : y + Math.abs(value) * scale + 14;
    svg.append(element("svg:text", { class: "value", x: x + 4, y: labelY }, value.toFixed(3)));
    svg.append(element("svg:text", { x: x + 4, y: height - 16 }, `layer ${layer}`));
  });
  const body = $("cosines").querySelector("tbody");
  body.replaceChildren();
  layers.forEach((layer, k) => {
    const row = element("tr");
    row.append(element("td", {}, String(layer)));
    row.append(element("td", { class: "num" }, values[k].toFixed(4)));
    body.append(row);
  });
}

let last = null; // the latest answer, for redrawing the neighbours of another layer

function renderNeighbours() {
  if (!last) return;
  const k = Number($("layer").value);
  const { items, positions } = last;
  const query = items[0].embeddings[k][positions[0]];
  const ranked = [];
  items.forEach((item, s) => {
    item.tokens.forEach((token, i) => {
      if (s === 0 && i === positions[0]) return; // the word itself
      ranked.push({ token, sentence: s + 1, value: cosine(query, item.embeddings[k][i]) });
    });
  });
  ranked.sort((a, b) => b.value - a.value);
  const body = $("neighbours").querySelector("tbody");
  body.replaceChildren();
  ranked.forEach((entry, rank) => {
    const row = element("tr");
    row.append(element("td", { class: "num" }, String(rank + 1)));
    row.append(element("td", {}, entry.token));
    row.append(element("td", { class: "num" }, String(entry.sentence)));
    row.append(element("td", { class: "num" }, entry.value.toFixed(4)));
    body.append(row);
  });
}

async function run(event) {
  event.preventDefault();
  clearError();
  $("results").hidden = true;
  const sentences = [...document.querySelectorAll("#sentences input")]
    .map((input) => input.value.trim())
    .filter(Boolean);
  const word = $("word").value.trim();
  document.body.dataset.state = "busy"; // "done" once this query has been answered
  if (sentences.length < 2) return finish(showError("enter at least two sentences"));
  if (!word) return finish(showError("enter the word to compare"));
  $("busy").hidden = false;
  $("run").disabled = true;
  try {
    const tokenized = await post("v1/tokenize", { inputs: sentences });
    const positions = tokenized.data.map((item) => findWord(item.tokens, word));
    renderTokens(tokenized.data, positions);
    const missing = positions.slice(0, 2).map((p, s) => (p < 0 ? s + 1 : 0)).filter(Boolean);
    if (missing.length) {
      $("results").hidden = false;
      const which = missing.map((s) => `sentence ${s} (tokens: ${tokenized.data[s - 1].tokens.join(" ")})`);
      throw new ApiError(`the word "${word}" is not in ${which.join(" nor in ")}`);
    }
    const answer = await post("v1/embed", { inputs: sentences, layers: "all" });
    const items = answer.data; // embeddings: [layer][token][dim]
    renderTokens(items, positions);
    const values = answer.layers.map((_, k) =>
      cosine(items[0].embeddings[k][positions[0]], items[1].embeddings[k][positions[1]]));
    renderChart(answer.layers, values);
    const select = $("layer");
    const chosen = select.value;
    select.replaceChildren(...answer.layers.map((layer, k) =>
      element("option", { value: k }, `layer ${layer}`)));
    select.value = chosen && Number(chosen) < answer.layers.length ? chosen : String(answer.layers.length - 1);
    last = { items, positions };
    renderNeighbours();
    $("results").hidden = false;
  } catch (exc) {
    showError(exc instanceof ApiError ? exc.message : `unexpected error: ${exc}`);
  } finally {
    $("busy").hidden = true;
    $("run").disabled = false;
    finish();
  }
}

function finish() {
  document.body.dataset.state = "done";
}

function init() {
  DEFAULT_SENTENCES.forEach((text) => addSentence(text));
  $("add-sentence").addEventListener("click", () => addSentence().focus());
  const keyField = $("api-key");
  keyField.value = sessionStorage.getItem(KEY_STORAGE) || "";
  keyField.addEventListener("input", () => {
    if (keyField.value) sessionStorage.setItem(KEY_STORAGE, keyField.value);
    else sessionStorage.removeItem(KEY_STORAGE);
  });
  $("layer").addEventListener("change", renderNeighbours);
  $("query").addEventListener("submit", run);
}

init();
