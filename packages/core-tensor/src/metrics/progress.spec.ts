// Specs for the progress reporter with a fake stream and clock.
import { formatDuration, Progress } from './progress';

function fake(isTTY: boolean): { stream: { write: (s: string) => void; isTTY: boolean }; out: string[] } {
  const out: string[] = [];
  return { stream: { write: (s: string) => void out.push(s), isTTY }, out };
}

describe('formatDuration', () => {
  it('formats seconds, minutes and hours', () => {
    expect(formatDuration(45)).toBe('45s');
    expect(formatDuration(125)).toBe('2m05s');
    expect(formatDuration(3723)).toBe('1h02m03s');
    expect(formatDuration(NaN)).toBe('?');
  });
});

describe('Progress', () => {
  it('redraws one line on a TTY with loss, lr, tokens/s and ETA', () => {
    const { stream, out } = fake(true);
    let now = 0;
    const p = new Progress({ total: 100, label: 'sft', stream, now: () => now });
    now = 2000; // 2 s for the first 4 steps
    p.update(4, { loss: 2.345678, lr: 1e-4, tokens: 4096 });
    // 4096 tok / 2 s = 2048 tok/s; 0.5 s/step; 96 steps left -> 48 s
    expect(out).toEqual(['\rsft 4/100 (4%) | loss 2.3457 | lr 1.00e-4 | 2.0k tok/s | 0.50 s/step | ETA 48s\x1b[K']);
    now = 2050; // under the 100 ms redraw interval: skipped
    p.update(5, { loss: 2.3 });
    expect(out.length).toBe(1);
    p.log('saved checkpoint');
    expect(out[1]).toBe('\r\x1b[Ksaved checkpoint\nsft 4/100 (4%) | loss 2.3457 | lr 1.00e-4 | 2.0k tok/s | 0.50 s/step | ETA 48s');
    now = 50000;
    p.update(100, { loss: 1.0 }); // the last step always prints
    expect(out[2]).toBe('\rsft 100/100 (100%) | loss 1.0000 | 82 tok/s | 0.50 s/step | took 50s\x1b[K');
    p.done('done');
    expect(out.slice(3)).toEqual(['\n', 'done\n']);
  });

  it('prints plain lines every N steps or T seconds when not a TTY', () => {
    const { stream, out } = fake(false);
    let now = 0;
    const p = new Progress({ total: 10, stream, now: () => now, everySteps: 4, everySeconds: 60 });
    for (let s = 1; s <= 3; s++) {
      now = s * 1000;
      p.update(s, { loss: 1 });
    }
    expect(out).toEqual([]);
    now = 4000;
    p.update(4, { loss: 1 });
    expect(out).toEqual(['4/10 (40%) | loss 1.0000 | 1.00 s/step | ETA 6s\n']);
    now = 70000; // step 5 is only 1 step later, but 66 s have passed
    p.update(5, {});
    expect(out.length).toBe(2);
    now = 71000;
    p.update(10, {});
    expect(out.length).toBe(3);
    expect(out[2]).toContain('10/10 (100%)');
    p.done();
    expect(out.length).toBe(3); // no newline needed in plain mode
  });

  it('counts rates from the resume step', () => {
    const { stream, out } = fake(false);
    let now = 0;
    const p = new Progress({ total: 100, startStep: 90, stream, now: () => now, everySteps: 1 });
    now = 5000;
    p.update(95, {});
    expect(out[0]).toBe('95/100 (95%) | 1.00 s/step | ETA 5s\n');
  });
});
