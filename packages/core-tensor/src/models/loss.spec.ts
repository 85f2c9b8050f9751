// causalLmLoss / gatherLogProbs against hand-computed values and gradients.
import * as tf from '@tensorflow/tfjs';
import { describeBackends } from '../testing/backends';
import { causalLmLoss, gatherLogProbs } from './loss';

const LN2 = Math.log(2);
// lse(1, 3) - 1 = 2 + ln(1 + e^-2)
const NLL1 = 2 + Math.log(1 + Math.exp(-2));

describeBackends('causal-LM loss', () => {
  const logits = (): tf.Tensor3D => tf.tensor3d([[[0, 0], [1, 3], [2, -1]]]);

  test('shifted mean over counted labels; -100 ignored; nothing counted gives 0', () => {
    const x = logits();
    expect(causalLmLoss(x, [[0, 1, 0]]).dataSync()[0]).toBeCloseTo((LN2 + NLL1) / 2, 6);
    expect(causalLmLoss(x, [[-100, 1, -100]]).dataSync()[0]).toBeCloseTo(LN2, 6);
    expect(causalLmLoss(x, tf.tensor2d([[7, -100, -100]], [1, 3], 'int32')).dataSync()[0]).toBe(0);
    tf.dispose(x);
  });

  test('gradient is (softmax - onehot) / count on counted rows, 0 elsewhere', () => {
    const x = logits();
    const g = tf.grad((l: tf.Tensor) => causalLmLoss(l as tf.Tensor3D, [[0, 1, 0]]))(x);
    const s = 1 / (1 + Math.exp(2)); // softmax(1, 3)[0]
    const want = [0.25, -0.25, (s - 1) / 2, (1 - s) / 2, 0, 0];
    Array.from(g.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(want[i], 6));
    tf.dispose([x, g]);
  });

  test('gatherLogProbs gives log softmax at the labels, unshifted', () => {
    const x = tf.tensor3d([[[0, 0], [1, 3]]]);
    const lp = gatherLogProbs(x, [[1, 0]]).dataSync();
    expect(lp[0]).toBeCloseTo(-LN2, 6);
    expect(lp[1]).toBeCloseTo(-NLL1, 6);
    tf.dispose(x);
  });
});
