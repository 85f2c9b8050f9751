// A worker_thread for a module of an rlhfkit package, from its compiled JavaScript or, in the checkout, its TypeScript.
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';

/**
 * Starts `<dir>/<name>.js` in a worker when the caller runs compiled (its `callerFile` ends in .js); from the sources it
 * starts `<dir>/<name>.ts` with tsx's require hook registered first, the way the rest of rlhfkit runs in the checkout.
 */
export function startPackageWorker(callerFile: string, dir: string, name: string, workerData: unknown): Worker {
  if (callerFile.endsWith('.js')) return new Worker(path.join(dir, `${name}.js`), { workerData });
  const tsx = JSON.stringify(require.resolve('tsx/cjs/api'));
  return new Worker(`require(${tsx}).register(); require(${JSON.stringify(path.join(dir, `${name}.ts`))});`, { eval: true, workerData });
}
