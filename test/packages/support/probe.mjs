// Waits until `url` answers (any HTTP status), within `timeoutMs`; prints the status and exits 0,
// or prints what it last saw and exits 1. Used inside an example's network namespace.
//   node probe.mjs <url> [timeoutMs]
const [url, timeout = '60000'] = process.argv.slice(2);
const deadline = Date.now() + Number(timeout);
let last = 'no answer';
while (Date.now() < deadline) {
  try {
    const response = await fetch(url);
    process.stdout.write(`PROBE ${response.status} ${await response.text()}\n`);
    process.exit(0);
  } catch (error) {
    last = String(error.cause?.code ?? error.message);
  }
  await new Promise((resolve) => setTimeout(resolve, 100));
}
process.stdout.write(`PROBE failed: ${last}\n`);
process.exit(1);
