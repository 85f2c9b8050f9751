// rlhfkit launch: DeepSpeed hostfiles read with errors naming the line, and the mpirun command lines for single_node and multi_node.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseHostfile, planLaunch } from './launch';

const program = ['node', 'rlhfkit'];

describe('rlhfkit launch', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rlhfkit-launch-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test("DeepSpeed's hostfile: host slots=N lines, comments, and errors that name the line", () => {
    expect(parseHostfile('# two workers\nworker-1 slots=4\n\nworker-2 slots=2  # the small one\n', 'hf')).toEqual([{ host: 'worker-1', slots: 4 }, { host: 'worker-2', slots: 2 }]);
    expect(() => parseHostfile('worker-1 slots=4\nworker-2 4\n', 'hf')).toThrow(/hf:2: expected "hostname slots=N"/);
    expect(() => parseHostfile('a slots=1\na slots=2\n', 'hf')).toThrow(/hf:2: host a is listed twice/);
    expect(() => parseHostfile('# nothing\n', 'hf')).toThrow(/hf: no hosts/);
  });

  test('single_node: one rank per CPU (or --num_gpus), unbound, oversubscribed only past the CPUs', () => {
    const p = planLaunch({ deploymentType: 'single_node', command: ['sft', 'train', '--seed', '1'], program, cpus: 4, env: {} });
    expect(p.ranks).toBe(4);
    expect(p.args.join(' ')).toMatch(/--bind-to none -np 4 node rlhfkit sft train --seed 1$/);
    const over = planLaunch({ deploymentType: 'single_node', numGpus: 8, command: ['x'], program, cpus: 2, env: { RLHFKIT_MPIRUN_ARGS: '--mca btl self,vader' } });
    expect(over.args.join(' ')).toMatch(/--oversubscribe -np 8 --mca btl self,vader node rlhfkit x$/);
    expect(planLaunch({ deploymentType: 'single_node', command: ['x'], program, cpus: 2, env: { RLHFKIT_NUM_GPUS: '3' } }).ranks).toBe(3);
    expect(() => planLaunch({ deploymentType: 'single_node', command: [], program, cpus: 2, env: {} })).toThrow(/give the command every rank runs after --/);
  });

  test('multi_node: the hostfile passed to mpirun (trimmed by --num_nodes/--num_gpus), the environment exported', () => {
    const hf = path.join(dir, 'hostfile');
    fs.writeFileSync(hf, 'h1 slots=4\nh2 slots=4\nh3 slots=4\n');
    const env = { RLHFKIT_THREADS: '2', PATH: '/bin', HOME: '/root' };
    const all = planLaunch({ deploymentType: 'multi_node', hostfile: hf, command: ['reward', 'train'], program, env, tmpDir: dir });
    expect(all.ranks).toBe(12);
    expect(all.args.join(' ')).toContain(`--hostfile ${hf} -np 12 -x PATH -x RLHFKIT_THREADS node rlhfkit reward train`);
    const some = planLaunch({ deploymentType: 'multi_node', hostfile: hf, numNodes: 2, numGpus: 1, command: ['x'], program, env, tmpDir: dir });
    const trimmed = some.args[some.args.indexOf('--hostfile') + 1];
    expect([some.ranks, fs.readFileSync(trimmed, 'utf8')]).toEqual([2, 'h1 slots=1\nh2 slots=1\n']);
    expect(() => planLaunch({ deploymentType: 'multi_node', hostfile: path.join(dir, 'none'), command: ['x'], program, env })).toThrow(/does not exist; multi_node needs one/);
    expect(() => planLaunch({ deploymentType: 'multi_node', numNodes: 4, hostfile: hf, command: ['x'], program, env })).toThrow(/--num_nodes 4: .* lists only 3 host/);
  });
});
