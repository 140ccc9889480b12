// bench/run, case P2 peer: WAITS concurrent wait loops with Node's fetch (the
// stack of EvoLink's official client), each a GET of its task then a 60 s
// sleep. IN_FLIGHT 0: fetch as it comes (a connection per GET in flight, kept
// alive after, as EvoLink's official client does); N: at most N GETs in flight
// (our client's pool holds 8). Once every loop has read its task and sleeps,
// prints the heap (JS heap and external memory) and RSS per loop it added.
// Usage: node --expose-gc p2_fetch.mjs BASE_URL WAITS IN_FLIGHT
// (the CA comes from NODE_EXTRA_CA_CERTS).
const [base, waits, inFlight] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
const auth = {Authorization: "Bearer bench-key"};
const sleep = ms => new Promise(r => setTimeout(r, ms));
let free = inFlight > 0 ? inFlight : Infinity;
const queue = [];
async function slot() {
  if (free > 0) { free--; return; }
  await new Promise(r => queue.push(r));
}
function release() { const next = queue.shift(); if (next) next(); else free++; }
const id = i => "task-unified-1764688000-w" + String(i).padStart(7, "0");

await (await fetch(base + "/v1/tasks/" + id(0), {headers: auth})).json(); // a connection open first
global.gc();
// The JS heap and the memory outside it (buffers, native objects): both are the loops' cost.
const heapOf = m => m.heapUsed + m.external;
const heap0 = heapOf(process.memoryUsage()), rss0 = process.memoryUsage().rss;
let read = 0;
async function loop(i) {
  for (;;) {
    await slot();
    let t;
    try { t = await (await fetch(base + "/v1/tasks/" + id(i), {headers: auth})).json(); } finally { release(); }
    if (t.status !== "processing") throw new Error("unexpected status " + t.status);
    if (++read === waits) {
      global.gc();
      const m = process.memoryUsage();
      console.log(`waits=${waits} heap_per_wait=${Math.round((heapOf(m) - heap0) / waits)} ` +
                  `rss_per_wait=${Math.round((m.rss - rss0) / waits)}`);
      process.exit(0);
    }
    await sleep(60000);
  }
}
for (let i = 0; i < waits; i++) loop(i);
