// The kdedge serve page. It classifies in the browser with MediaPipe Tasks for Web (the WASM build of the
// C++ core Android and iOS run) loading the very .tflite the server serves, or through POST /v1/classify.
// window.kdedge is what the tests and the browser benchmark drive (kdedge/serve/browser.py through drive.mjs).

const $ = (id) => document.getElementById(id);
const info = await (await fetch("/v1/model")).json();
let local = null;     // MediaPipe's TextClassifier, once loaded
let localError = null;

async function loadLocal() {
  if (!info.assets) {
    throw new Error("MediaPipe Tasks for Web is not installed on the server (npm ci --prefix kdedge/serve/web, " +
                    "or kdedge serve --cdn URL)");
  }
  const base = new URL(info.assets, location.href).href;
  const { FilesetResolver, TextClassifier } = await import(`${base}/text_bundle.mjs`);
  const fileset = await FilesetResolver.forTextTasks(`${base}/wasm`);
  return TextClassifier.createFromOptions(fileset, { baseOptions: { modelAssetPath: info.url } });
}

function answer(scores, ms) {
  // scores: label -> probability; best first
  const entries = Object.entries(scores).sort((a, b) => b[1] - a[1]);
  return { label: entries[0][0], score: entries[0][1], scores: Object.fromEntries(entries), ms };
}

function classifyLocal(text) {
  if (!local) throw new Error(localError || "the in-browser model is still loading");
  const t0 = performance.now();
  const result = local.classify(text);
  const ms = performance.now() - t0;
  const scores = {};
  for (const c of result.classifications[0].categories) scores[c.categoryName || String(c.index)] = c.score;
  return answer(scores, ms);
}

async function classifyServer(text) {
  const t0 = performance.now();
  const r = await fetch("/v1/classify", { method: "POST", headers: { "content-type": "application/json" },
                                          body: JSON.stringify({ texts: [text] }) });
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || `HTTP ${r.status}`);
  return answer(body.results[0].scores, performance.now() - t0);
}

// "Why?": the server's Shapley values for the served file, as the highlighted words kdedge explain's
// explain.html shows (the server renders the same markup, every word HTML-escaped). Only the answer to the
// latest text is shown; #why's data-for says which text it explains.
let whySeq = 0;
async function explainServer(text) {
  const seq = ++whySeq;
  const box = $("why");
  const r = await fetch("/v1/explain", { method: "POST", headers: { "content-type": "application/json" },
                                         body: JSON.stringify({ text }) });
  const body = await r.json();
  if (seq !== whySeq) return null;
  if (!r.ok) {
    box.hidden = true;
    return { error: body.error || `HTTP ${r.status}` };
  }
  box.querySelector(".why-label").textContent = body.label;
  box.querySelector(".words").innerHTML = body.words.length ? body.html : "<em>no words the model reads</em>";
  box.dataset.for = text;
  box.hidden = false;
  return body;
}

// The browser benchmark: calls of classify(text) (text in, probabilities out, tokenizer included), timed
// inside the page so that no driver round trip is counted. time() makes n timed calls on texts
// start .. start+n-1 (cycling) and returns their durations in ms; the driver decides when to stop, by
// the same rule as every host figure (kdedge.measure.timing.adaptive_timing).
function warmup(texts, n) {
  for (let i = 0; i < n; i++) local.classify(texts[i % texts.length]);
}

function time(texts, start, n) {
  const ms = new Array(n);
  for (let i = 0; i < n; i++) {
    const text = texts[(start + i) % texts.length];
    const t0 = performance.now();
    local.classify(text);
    ms[i] = performance.now() - t0;
  }
  return ms;
}

function render(panel, result, error) {
  const box = panel.querySelector(".answer");
  box.replaceChildren();
  if (error) {
    const p = document.createElement("p");
    p.className = "error";
    p.textContent = error;
    box.append(p);
    return;
  }
  const head = document.createElement("div");
  head.innerHTML = `<span class="label"></span><span class="time"></span>`;
  head.querySelector(".label").textContent = result.label;
  head.querySelector(".time").textContent = `${result.ms.toFixed(2)} ms`;
  box.append(head);
  for (const [label, p] of Object.entries(result.scores)) {
    const row = document.createElement("div");
    row.className = "bar";
    row.innerHTML = `<span></span><span class="track"><span class="fill"></span></span><span class="p"></span>`;
    row.children[0].textContent = label;
    row.querySelector(".fill").style.width = `${(100 * p).toFixed(1)}%`;
    row.querySelector(".p").textContent = p.toFixed(4);
    box.append(row);
  }
}

async function run() {
  const text = $("text").value;
  const where = document.querySelector("input[name=where]:checked").value;
  const both = $("compare").checked;
  const want = { browser: both || where === "browser", server: both || where === "server" };
  $("browser").hidden = !want.browser;
  $("server").hidden = !want.server;
  document.querySelector(".results").classList.toggle("single", !(want.browser && want.server));
  const got = {};
  if (want.browser) {
    try { got.browser = classifyLocal(text); render($("browser"), got.browser); }
    catch (e) { render($("browser"), null, e.message); }
  }
  if (want.server) {
    try { got.server = await classifyServer(text); render($("server"), got.server); }
    catch (e) { render($("server"), null, e.message); }
  }
  const agree = $("agree");
  agree.className = "";
  agree.textContent = "";
  if (got.browser && got.server) {
    const diff = Math.max(...Object.keys(got.server.scores).map(
      (k) => Math.abs(got.server.scores[k] - (got.browser.scores[k] ?? NaN))));
    const same = got.browser.label === got.server.label && diff <= 1e-5;
    agree.className = same ? "ok" : "bad";
    agree.textContent = same ? `Browser and server agree (largest probability difference ${diff.toExponential(1)}).`
                             : `Browser and server DISAGREE (largest probability difference ${diff.toExponential(1)}).`;
  }
  explainServer(text).catch((e) => { $("why").hidden = true; console.warn(`explain: ${e.message}`); });
  return got;
}

const ready = (async () => {
  try {
    local = await loadLocal();
    $("status").textContent = "the model runs in this browser";
  } catch (e) {
    localError = `in-browser model unavailable: ${e.message}`;
    $("status").textContent = localError;
    document.querySelector("input[value=server]").checked = true;
  }
  await run();
  return { local: local !== null, error: localError };
})();

let pending = null;
$("text").addEventListener("input", () => { clearTimeout(pending); pending = setTimeout(run, 150); });
$("go").addEventListener("click", run);
for (const el of document.querySelectorAll("input[name=where], #compare")) el.addEventListener("change", run);

window.kdedge = { info, ready, run, classifyLocal, classifyServer, explainServer, warmup, time };
