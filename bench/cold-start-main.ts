import { coldStart } from './cold-start';

/** `ts-node bench/cold-start-main.ts [runs]`: the cold-start part of the benchmark alone (printed, not written). */
async function main(): Promise<void> {
  const runs = Number(process.argv[2] ?? 10);
  const result = await coldStart(runs);
  if (process.env.JSON) console.log(JSON.stringify(result, null, 1));
  const pad = (s: string | number, n: number) => String(s).padEnd(n);
  const e = result.emptyNode;
  console.log(`empty node ${e.medianMs} ms (p10 ${e.p10Ms}, p90 ${e.p90Ms}), cpu ${e.cpu.medianMs} ms`);
  for (const b of result.bundles) {
    console.log(`${pad(b.name, 11)} load ${pad(b.loadOnly.ratioToEmptyNode + '×', 6)} cpu ${pad(b.loadOnly.cpu.ratioToEmptyNode + '×', 6)}`
      + ` first(on) ${pad(b.ratioToEmptyNode + '×', 6)} cpu ${pad(b.cpu.ratioToEmptyNode + '×', 6)} ${pad(b.medianMs + 'ms', 8)}`
      + ` first(off) ${pad(b.tracingOff.ratioToEmptyNode + '×', 6)} cpu ${pad(b.tracingOff.cpu.ratioToEmptyNode + '×', 6)}`
      + ` in-process load@${b.inProcess.loadedAtMs} +${b.inProcess.firstRequestMs} / off load@${b.inProcess.loadedAtMsTracingOff} +${b.inProcess.firstRequestMsTracingOff}`
      + ` xray ${b.tracing.documents} [${b.tracing.subsegments.join(',')}]`
      + ` above ${b.aboveSdkFloorMs.floor} +${b.aboveSdkFloorMs.tracingOn}ms / off +${b.aboveSdkFloorMs.tracingOff}ms`);
  }
  // What no handler goes below here (bench/floors.ts): ingest environment, tracing off.
  for (const f of result.floors) {
    console.log(`floor ${pad(f.name, 13)} ${pad(Math.round(f.bytes / 1024) + 'KiB', 6)}`
      + (f.loadOnly ? ` load ${pad(f.loadOnly.ratioToEmptyNode + '×', 6)} cpu ${pad(f.loadOnly.cpu.ratioToEmptyNode + '×', 6)}` : ' '.repeat(23))
      + ` first ${pad(f.ratioToEmptyNode + '×', 6)} cpu ${pad(f.cpu.ratioToEmptyNode + '×', 6)} ${pad(f.medianMs + 'ms', 8)} answered ${f.answered}/${result.runs}  ${f.description}`);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
