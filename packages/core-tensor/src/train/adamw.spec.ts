// Specs for AdamW against torch.optim.AdamW numbers, plus exact resume and tensor hygiene.
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { AdamW, joinAdamWState, splitAdamWState } from './adamw';
import { expectClose } from './testing';

// Reference run, produced once with torch 1.13.1 (Debian python3-torch), torch.optim.AdamW(foreach=False):
//   groups [{params:[w], lr:0.01, weight_decay:0.1}, {params:[b,c], lr:0.05, weight_decay:0.0}],
//   betas=(0.9, 0.95), eps=1e-8; before step k the lr of each group is set to base * [1, .5, .25, .125][k];
//   c has no gradient in step 2. Values printed with '%.9g'.
const W0 = [[0.5, -1.0, 2.0], [0.25, 0.0, -0.75]];
const B0 = [0.1, -0.2, 0.3];
const C0 = [1.0, -1.0];
const GW = [
  [[0.1, -0.2, 0.3], [0.4, -0.5, 0.6]], [[-0.3, 0.1, 0.0], [0.2, 0.2, -0.1]],
  [[0.05, 0.05, -0.05], [1.0, -1.0, 0.5]], [[0.0, 0.3, 0.1], [-0.2, 0.0, 0.4]],
];
const GB = [[1.0, -2.0, 0.5], [0.5, 0.5, -0.5], [-1.0, 0.25, 0.0], [0.3, -0.3, 0.9]];
const GC: (number[] | null)[] = [[0.2, -0.4], null, [0.1, 0.1], [-0.3, 0.6]];
const MULT = [1.0, 0.5, 0.25, 0.125];
const TORCH = {
  after2: {
    w: [0.491701722, -0.987163663, 1.98361266, 0.234933659, 0.011738983, -0.761595666],
    b: [0.0265176725, -0.138130859, 0.251315802],
    c: [0.949999988, -0.949999988],
  },
  w: [0.49250105, -0.987169802, 1.98118937, 0.231942028, 0.0141367372, -0.764134824],
  b: [0.0238501839, -0.132481962, 0.249139875],
  c: [0.938766539, -0.946054101],
  wExpAvg: [-0.0125100007, 0.0280200019, 0.0273699984, 0.115359984, -0.110249996, 0.120639995],
  wExpAvgSq: [0.00460868748, 0.00678475061, 0.00447693747, 0.0581640005, 0.0600221865, 0.0357589982],
  cExpAvg: [-0.00480000162, 0.0366000012],
  cExpAvgSq: [0.0067800004, 0.0256950017],
};

function makeVars(): Map<string, tf.Variable> {
  return new Map<string, tf.Variable>([
    ['w', tf.variable(tf.tensor2d(W0))],
    ['b', tf.variable(tf.tensor1d(B0))],
    ['c', tf.variable(tf.tensor1d(C0))],
  ]);
}

function makeOpt(vars: Map<string, tf.Variable>): AdamW {
  return new AdamW(
    [{ params: ['w'], lr: 0.01, weightDecay: 0.1 }, { params: ['b', 'c'], lr: 0.05, weightDecay: 0.0 }],
    vars,
    { betas: [0.9, 0.95], eps: 1e-8 },
  );
}

function runSteps(opt: AdamW, from: number, to: number): void {
  for (let k = from; k < to; k++) {
    opt.groups.forEach((g, i) => opt.setLr(g.initialLr * MULT[k], i));
    const grads = new Map<string, tf.Tensor>([['w', tf.tensor2d(GW[k])], ['b', tf.tensor1d(GB[k])]]);
    const gc = GC[k];
    if (gc) grads.set('c', tf.tensor1d(gc));
    opt.step(grads);
    tf.dispose([...grads.values()]);
  }
}

const read = (t: tf.Tensor): number[] => Array.from(t.dataSync());

function disposeAll(vars: Map<string, tf.Variable>, opt: AdamW): void {
  opt.dispose();
  tf.dispose([...vars.values()]);
}

describe.each(['cpu', 'wasm'])('AdamW on %s', (backend) => {
  beforeAll(async () => {
    await tf.setBackend(backend);
  });

  it('matches torch.optim.AdamW: two groups, weight decay, lr changes, a step without grad', () => {
    const vars = makeVars();
    const opt = makeOpt(vars);
    runSteps(opt, 0, 2);
    expectClose(read(vars.get('w')!), TORCH.after2.w, 5e-7);
    expectClose(read(vars.get('b')!), TORCH.after2.b, 5e-7);
    expectClose(read(vars.get('c')!), TORCH.after2.c, 5e-7);
    runSteps(opt, 2, 4);
    expectClose(read(vars.get('w')!), TORCH.w, 5e-7);
    expectClose(read(vars.get('b')!), TORCH.b, 5e-7);
    expectClose(read(vars.get('c')!), TORCH.c, 5e-7);
    const sd = opt.stateDict();
    expect(sd.state.w.step).toBe(4);
    expect(sd.state.c.step).toBe(3); // skipped step 2, like torch
    expectClose(Array.from(sd.state.w.expAvg.data), TORCH.wExpAvg, 1e-7);
    expectClose(Array.from(sd.state.w.expAvgSq.data), TORCH.wExpAvgSq, 1e-7);
    expectClose(Array.from(sd.state.c.expAvg.data), TORCH.cExpAvg, 1e-7);
    expectClose(Array.from(sd.state.c.expAvgSq.data), TORCH.cExpAvgSq, 1e-7);
    disposeAll(vars, opt);
  });

  it('matches torch with amsgrad and with maximize', () => {
    // torch: AdamW([p], lr=0.1, weight_decay=0.05, amsgrad=True), default betas/eps, 3 steps.
    const p = tf.variable(tf.tensor1d([1.0, -2.0, 3.0, 0.5]));
    const opt = new AdamW([{ params: ['p'] }], { p }, { lr: 0.1, weightDecay: 0.05, amsgrad: true });
    for (const g of [[2.0, -3.0, 0.5, 1.0], [0.1, 0.1, 0.1, -0.1], [0.0, 0.2, -0.05, 0.01]]) {
      const gt = tf.tensor1d(g);
      opt.step(new Map([['p', gt]]));
      gt.dispose();
    }
    expectClose(read(p), [0.761207938, -1.76149356, 2.72078156, 0.288141489], 5e-7);
    const st = opt.stateDict().state.p;
    expectClose(Array.from(st.maxExpAvgSq!.data), [0.00400600024, 0.00903199799, 0.000261990237, 0.001009], 1e-8);
    expectClose(Array.from(st.expAvgSq.data), [0.00400199415, 0.00903199799, 0.000261990237, 0.00100809103], 1e-8);
    opt.dispose();
    p.dispose();

    // torch: AdamW([q], lr=0.1, weight_decay=0.01, maximize=True), 2 steps.
    const q = tf.variable(tf.tensor1d([1.0, -2.0]));
    const o2 = new AdamW([{ params: ['q'], maximize: true }], { q }, { lr: 0.1, weightDecay: 0.01 });
    for (const g of [[0.5, -0.25], [1.0, 1.0]]) {
      const gt = tf.tensor1d(g);
      o2.step(new Map([['q', gt]]));
      gt.dispose();
    }
    expectClose(read(q), [1.19441915, -2.03995156], 5e-7);
    o2.dispose();
    q.dispose();
  });

  it('matches a hand-computed first step', () => {
    // Step 1 with g: m = (1-b1) g, v = (1-b2) g^2, so m_hat/(sqrt(v_hat)+eps) = sign(g) (eps negligible):
    // p1 = p0 (1 - lr wd) - lr sign(g) = 2 * (1 - 0.1*0.5) - 0.1 = 1.8 ; -1 * 0.95 + 0.1 = -0.85
    const p = tf.variable(tf.tensor1d([2, -1]));
    const opt = new AdamW([{ params: ['p'], lr: 0.1, weightDecay: 0.5 }], { p });
    const g = tf.tensor1d([3, -0.001]);
    opt.step(new Map([['p', g]]));
    expectClose(read(p), [1.8, -0.85], 1e-6);
    g.dispose();
    opt.dispose();
    p.dispose();
  });

  it('resumes bit-exactly from stateDict (through split/join as a checkpoint would)', () => {
    const straight = makeVars();
    const o1 = makeOpt(straight);
    runSteps(o1, 0, 4);

    const first = makeVars();
    const o2 = makeOpt(first);
    runSteps(o2, 0, 2);
    const { meta, tensors } = splitAdamWState(o2.stateDict());
    const metaJson = JSON.parse(JSON.stringify(meta));
    const params = new Map([...first].map(([k, v]) => [k, Float32Array.from(v.dataSync())]));
    disposeAll(first, o2);

    const resumed = new Map([...params].map(([k, d]) => [k, tf.variable(tf.tensor(d, k === 'w' ? [2, 3] : [d.length]))]));
    const o3 = makeOpt(resumed);
    o3.loadStateDict(joinAdamWState(metaJson, tensors));
    expect(o3.stepCount('c')).toBe(1);
    runSteps(o3, 2, 4);
    for (const k of ['w', 'b', 'c']) expect(read(resumed.get(k)!)).toEqual(read(straight.get(k)!));
    disposeAll(straight, o1);
    disposeAll(resumed, o3);
  });

  it('leaks no tensors: state appears once, then the count stays flat', () => {
    const vars = makeVars();
    const before = tf.memory().numTensors;
    const opt = makeOpt(vars);
    runSteps(opt, 0, 1);
    const afterFirst = tf.memory().numTensors;
    expect(afterFirst - before).toBe(6); // exp_avg and exp_avg_sq for w, b, c
    runSteps(opt, 1, 4);
    expect(tf.memory().numTensors).toBe(afterFirst);
    opt.loadStateDict(opt.stateDict());
    expect(tf.memory().numTensors).toBe(afterFirst);
    opt.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([...vars.values()]);
  });
});

describe('AdamW errors', () => {
  it('names the problem', () => {
    const vars = makeVars();
    expect(() => new AdamW([{ params: ['w', 'nope'] }], vars)).toThrow(/no variable named 'nope'/);
    expect(() => new AdamW([{ params: ['w'] }, { params: ['w'] }], vars)).toThrow(/groups 0 and 1/);
    expect(() => new AdamW([{ params: ['w'], betas: [1, 0.9] }], vars)).toThrow(/betas\[0\]/);
    const opt = new AdamW([{ params: ['w'] }], vars);
    const g = tf.zeros([3]);
    expect(() => opt.step(new Map([['w', g]]))).toThrow(/'w' has shape \[3\] but the parameter is \[2,3\]/);
    const other = new AdamW([{ params: ['b'] }], vars);
    expect(() => other.loadStateDict(makeOpt(vars).stateDict())).toThrow(/2 param groups/);
    g.dispose();
    opt.dispose();
    other.dispose();
    tf.dispose([...vars.values()]);
  });
});
