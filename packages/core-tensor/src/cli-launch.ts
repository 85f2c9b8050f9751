// `rlhfkit launch`: DeepSpeed's launcher for rlhfkit, over Open MPI's mpirun (this host's CPUs, or the hosts of a DeepSpeed hostfile).
import type { Argv, CommandModule } from 'yargs';
import { DEPLOYMENT_KINDS, planLaunch, runLaunch, type DeploymentKind } from './dist/launch';
import { flagRules } from './run/cli-checks';

export interface LaunchArgs {
  deployment_type: DeploymentKind;
  num_gpus?: number;
  num_nodes?: number;
  hostfile?: string;
  mpirun_args?: string;
  dry_run?: boolean;
  '--'?: (string | number)[];
}

export const launchCommand: CommandModule<object, LaunchArgs> = {
  command: 'launch',
  describe: "Run an rlhfkit command data-parallel with Open MPI's mpirun, as DeepSpeed's launcher: rlhfkit launch [--num_gpus N | --deployment_type multi_node --hostfile F] -- sft train ...",
  builder: (y) =>
    y
      .option('deployment_type', {
        alias: 'deployment-type', type: 'string', choices: [...DEPLOYMENT_KINDS], default: 'single_node',
        describe: 'single_node: ranks on this host; multi_node: on the hosts of a DeepSpeed hostfile',
      })
      .option('num_gpus', { alias: ['num-gpus', 'num_procs'], type: 'number', describe: "ranks per host (DeepSpeed's name); single_node default: $RLHFKIT_NUM_GPUS, else one per CPU" })
      .option('num_nodes', { alias: 'num-nodes', type: 'number', describe: 'multi_node: use the first N hosts of the hostfile' })
      .option('hostfile', { type: 'string', describe: 'multi_node: DeepSpeed hostfile, "host slots=N" per line (default: $RLHFKIT_HOSTFILE, else /job/hostfile)' })
      .option('mpirun_args', { alias: 'mpirun-args', type: 'string', describe: 'extra mpirun arguments, e.g. "--mca btl tcp,self" (also $RLHFKIT_MPIRUN_ARGS)' })
      .option('dry_run', { alias: 'dry-run', type: 'boolean', describe: 'print the mpirun command line and exit' })
      .parserConfiguration({ 'populate--': true, 'parse-positional-numbers': false })
      .check(flagRules({ num_gpus: { int: true, min: 1 }, num_nodes: { int: true, min: 1 } }))
      .example('$0 launch --num_gpus 2 -- sft train --data_path rlhfkit/demo --model_name_or_path out/base --output_dir out/step1', 'two ranks on this host')
      .example('$0 launch --deployment_type multi_node --hostfile hosts -- reward train ...', 'ranks on every host of a DeepSpeed hostfile')
      .strict() as unknown as Argv<LaunchArgs>,
  handler: async (a) => {
    const plan = planLaunch({
      deploymentType: a.deployment_type,
      numGpus: a.num_gpus,
      numNodes: a.num_nodes,
      hostfile: a.hostfile,
      mpirunArgs: (a.mpirun_args ?? '').split(/\s+/).filter(Boolean),
      command: (a['--'] ?? []).map(String),
    });
    if (a.dry_run) {
      for (const n of plan.notes) process.stderr.write(`${n}\n`);
      process.stdout.write(`${[plan.mpirun, ...plan.args].join(' ')}\n`);
      return;
    }
    const code = await runLaunch(plan);
    if (code !== 0) process.exitCode = code;
  },
};
