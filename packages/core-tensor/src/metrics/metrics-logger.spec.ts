// Specs for metrics.jsonl logging (line format, crash tolerance) and its TensorBoard mirror.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MetricsLogger, parseMetrics, readMetrics } from './metrics-logger';
import { readEventFile } from './tfevents';

describe('MetricsLogger', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rlhfkit-metrics-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('appends one JSON object per line, on disk before log() returns', () => {
    let t = 1_700_000_000_000;
    const m = new MetricsLogger(path.join(dir, 'run'), { now: () => t, hostname: 'h' });
    m.log(1, { 'train/loss': 2.5, 'train/lr': 1e-4, 'time/step': 0.25 });
    // read while the logger is still open: nothing is buffered in the process
    expect(fs.readFileSync(m.file, 'utf8')).toBe('{"step":1,"time":1700000000,"train/loss":2.5,"train/lr":0.0001,"time/step":0.25}\n');
    t += 2345;
    m.log(2, { 'eval/perplexity': 12.5, 'train/loss': NaN });
    m.close();
    const lines = fs.readFileSync(m.file, 'utf8').split('\n');
    expect(lines[1]).toBe('{"step":2,"time":1700000002.345,"eval/perplexity":12.5,"train/loss":null}');
    expect(readMetrics(m.file)).toEqual([
      { step: 1, time: 1700000000, 'train/loss': 2.5, 'train/lr': 1e-4, 'time/step': 0.25 },
      { step: 2, time: 1700000002.345, 'eval/perplexity': 12.5, 'train/loss': null },
    ]);
    expect(() => m.log(3, {})).toThrow(/closed/);
  });

  it('mirrors scalars into a TensorBoard event file in the same folder', () => {
    const m = new MetricsLogger(dir, { now: () => 1_700_000_000_000, hostname: 'h' });
    m.log(5, { 'train/loss': 1.5 });
    m.logText('config', 'lr=1e-4');
    m.close();
    const events = readEventFile(path.join(dir, 'events.out.tfevents.1700000000.h'));
    expect(events.map((e) => e.step)).toEqual([0, 5, 0]);
    expect(events[1].values).toEqual([{ tag: 'train/loss', simpleValue: 1.5 }]);
    expect(events[2].values[0].text).toBe('lr=1e-4');
    const noTb = new MetricsLogger(path.join(dir, 'plain'), { tensorboard: false });
    noTb.close();
    expect(fs.readdirSync(path.join(dir, 'plain'))).toEqual(['metrics.jsonl']);
  });

  it('continues an existing file on resume and rejects reserved keys', () => {
    const a = new MetricsLogger(dir, { tensorboard: false });
    a.log(1, { 'train/loss': 3 });
    a.close();
    const b = new MetricsLogger(dir, { tensorboard: false });
    b.log(2, { 'train/loss': 2 });
    expect(() => b.log(3, { step: 1 })).toThrow(/reserved/);
    b.close();
    expect(readMetrics(b.file).map((r) => r.step)).toEqual([1, 2]);
  });
});

describe('parseMetrics', () => {
  it('skips a last line cut off by a crash but reports other bad lines with their number', () => {
    expect(parseMetrics('{"step":1,"time":0,"a":1}\n{"step":2,"ti').map((r) => r.step)).toEqual([1]);
    expect(parseMetrics('{"step":1,"time":0}\n{"step":2,"time":0}').map((r) => r.step)).toEqual([1, 2]);
    expect(() => parseMetrics('{"step":1}\nnot json\n{"step":3}\n', 'm.jsonl')).toThrow(/m.jsonl:2: not valid JSON/);
    expect(() => parseMetrics('{"loss":1}\n', 'm.jsonl')).toThrow(/m.jsonl:1: expected an object with a numeric "step"/);
  });
});
