// rlhfkit train --deployment-type: single_gpu runs each step as one process; single_node/multi_node put every step under rlhfkit launch.
import { launchEnv } from './launch-env';

describe('launchEnv', () => {
  test('single_gpu changes nothing; single_node shares the CPUs among the ranks; multi_node names the hostfile', () => {
    expect(launchEnv({ deploymentType: 'single_gpu' }, {}, 8)).toEqual({});
    expect(launchEnv({ deploymentType: 'single_node' }, {}, 8)).toEqual({ RLHFKIT_LAUNCH: 'launch --deployment_type single_node --', RLHFKIT_THREADS: '1' });
    expect(launchEnv({ deploymentType: 'single_node', numGpus: 2 }, {}, 8)).toEqual({ RLHFKIT_LAUNCH: 'launch --deployment_type single_node --', RLHFKIT_NUM_GPUS: '2', RLHFKIT_THREADS: '4' });
    expect(launchEnv({ deploymentType: 'single_node', numGpus: 2 }, { RLHFKIT_THREADS: '3' }, 8).RLHFKIT_THREADS).toBeUndefined();
    expect(launchEnv({ deploymentType: 'multi_node', hostfile: '/job/h' }, {}, 8)).toEqual({ RLHFKIT_LAUNCH: 'launch --deployment_type multi_node --', RLHFKIT_HOSTFILE: '/job/h' });
  });
});
