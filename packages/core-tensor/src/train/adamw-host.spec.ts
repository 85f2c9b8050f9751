// AdamW with its moments on the host against the tensor composite: the same parameters and state, bit for bit.
import * as tf from '@tensorflow/tfjs';
import { randomArray, switchBackend } from '../testing/backends';
import { AdamW } from './adamw';

function vars(): Map<string, tf.Variable> {
  return new Map<string, tf.Variable>([
    ['w', tf.variable(tf.tensor2d(randomArray(12 * 7, 1, -2, 2), [12, 7]))],
    ['b', tf.variable(tf.tensor1d(randomArray(7, 2)))],
  ]);
}

async function run(momentsOnHost: boolean, amsgrad: boolean, maximize: boolean): Promise<{ params: Float32Array[]; state: Float32Array[]; steps: number[] }> {
  await switchBackend('cpu');
  const v = vars();
  const opt = new AdamW([{ params: ['w'], weightDecay: 0.1 }, { params: ['b'], weightDecay: 0, lr: 0.05 }], v, { lr: 0.01, betas: [0.9, 0.95], amsgrad, maximize }, { momentsOnHost });
  expect(opt.momentsOnHost).toBe(momentsOnHost);
  for (let k = 0; k < 5; k++) {
    const grads = new Map<string, tf.Tensor>([['w', tf.tensor2d(randomArray(84, 10 + k, -3, 3), [12, 7])]]);
    if (k !== 2) grads.set('b', tf.tensor1d(randomArray(7, 20 + k)));
    opt.setLr(0.01 / (k + 1), 0);
    opt.step(grads);
    tf.dispose([...grads.values()]);
  }
  const sd = opt.stateDict();
  const out = {
    params: [...v.values()].map((x) => Float32Array.from(x.dataSync())),
    state: Object.values(sd.state).flatMap((s) => [s.expAvg.data, s.expAvgSq.data, ...(s.maxExpAvgSq ? [s.maxExpAvgSq.data] : [])]),
    steps: Object.values(sd.state).map((s) => s.step),
  };
  if (momentsOnHost) expect(opt.hostStateBytes()).toBe((84 + 7) * 4 * (amsgrad ? 3 : 2));
  opt.dispose();
  tf.dispose([...v.values()]);
  return out;
}

describe('AdamW moments on the host [cpu]', () => {
  test.each([
    [false, false],
    [true, false],
    [false, true],
  ])('bit-identical to the tensor composite (amsgrad %s, maximize %s)', async (amsgrad, maximize) => {
    const onHeap = await run(false, amsgrad, maximize);
    const onHost = await run(true, amsgrad, maximize);
    expect(onHost.steps).toEqual(onHeap.steps);
    onHeap.params.forEach((p, i) => expect(Array.from(onHost.params[i])).toEqual(Array.from(p)));
    onHeap.state.forEach((s, i) => expect(Array.from(onHost.state[i])).toEqual(Array.from(s)));
  });

  test('resumes from a state dict into host moments', async () => {
    await switchBackend('cpu');
    const v = vars();
    const a = new AdamW([{ params: ['w', 'b'] }], v, { lr: 0.01 }, { momentsOnHost: false });
    a.step(new Map([['w', tf.ones([12, 7])], ['b', tf.ones([7])]]));
    const b = new AdamW([{ params: ['w', 'b'] }], v, { lr: 0.01 }, { momentsOnHost: true });
    b.loadStateDict(a.stateDict());
    expect(b.stepCount('w')).toBe(1);
    expect(Array.from(b.stateDict().state.w.expAvg.data)).toEqual(Array.from(a.stateDict().state.w.expAvg.data));
    a.dispose();
    b.dispose();
    tf.dispose([...v.values()]);
  });
});
