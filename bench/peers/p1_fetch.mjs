// bench/run, case P1 peer: the same POST + GET pairs with Node's fetch (the
// stack of EvoLink's official client). Usage: node p1_fetch.mjs BASE_URL TASKS
// CONCURRENCY (the CA comes from NODE_EXTRA_CA_CERTS).
const [base, tasks, conc] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
const body = JSON.stringify({model: "wan2.5-image-to-video", prompt: "a lighthouse at dawn, waves rolling in",
                             image_urls: ["https://example.com/lighthouse.png"]});
const auth = {Authorization: "Bearer bench-key"};
let left = tasks, failed = 0;
async function worker() {
  while (left > 0) {
    left--;
    const created = await (await fetch(base + "/v1/videos/generations",
        {method: "POST", body, headers: {...auth, "Content-Type": "application/json"}})).json();
    const read = await (await fetch(base + "/v1/tasks/" + created.id, {headers: auth})).json();
    if (read.status !== "completed") failed++;
  }
}
await Promise.all(Array.from({length: conc}, worker));
console.log(`tasks=${tasks} failed=${failed}`);
