// Exits 0 when the URL given as the only argument answers 200 within a second, 1 otherwise.
const url = process.argv[2];
try {
  const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
  process.exit(res.status === 200 ? 0 : 1);
} catch {
  process.exit(1);
}
