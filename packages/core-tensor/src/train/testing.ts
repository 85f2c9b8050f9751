// Test helpers shared by the train/ specs (not exported from the package).

/** Element-wise |actual - expected| <= atol, with a message that names the first bad index. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol: number): void {
  if (actual.length !== expected.length) {
    throw new Error(`length ${actual.length} != expected ${expected.length}`);
  }
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    if (!(d <= atol)) {
      throw new Error(`index ${i}: got ${actual[i]}, expected ${expected[i]} (|diff| ${d} > ${atol})\n got: ${Array.from(actual).join(', ')}`);
    }
  }
}
