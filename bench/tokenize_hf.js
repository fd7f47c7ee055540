// Baseline for bench/tokenize.sh: Hugging Face `tokenizers` (npm) encoding every line of a file
// in batches of 1000 on one thread (RAYON_NUM_THREADS=1); prints MB/s of input text.
const {Tokenizer} = require('tokenizers');
const fs = require('fs');
const [tokPath, textPath] = process.argv.slice(2);
const tok = Tokenizer.fromFile(tokPath);
const lines = fs.readFileSync(textPath, 'utf8').split('\n');
if (lines.length && lines[lines.length - 1] === '') lines.pop();
const bytes = lines.reduce((n, l) => n + Buffer.byteLength(l, 'utf8'), 0);
(async () => {
  let tokens = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < lines.length; i += 1000) {
    const encs = await tok.encodeBatch(lines.slice(i, i + 1000));
    for (const e of encs) tokens += e.getIds().length;
  }
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(`lines ${lines.length} tokens ${tokens} bytes ${bytes} seconds ${s.toFixed(3)} MB/s ${(bytes / 1e6 / s).toFixed(2)}`);
})();
