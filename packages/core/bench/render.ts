// Writes results/<name>.md (and the targets in the JSON) again from results/<name>.json (default: latest), with this version of the report:
// `node --import tsx bench/render.ts [name]`. For a change of the report's wording, not of its figures.
import { readFile, writeFile } from 'node:fs/promises';
import { type BenchReport, judgeTargets, toMarkdown } from './report.ts';

const name = process.argv[2] ?? 'latest';
const file = new URL(`./results/${name}.json`, import.meta.url);
const report = JSON.parse(await readFile(file, 'utf8')) as BenchReport;
await writeFile(file, `${JSON.stringify({ ...report, targets: judgeTargets(report) }, null, 2)}\n`);
await writeFile(new URL(`./results/${name}.md`, import.meta.url), toMarkdown(report));
