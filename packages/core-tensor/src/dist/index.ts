// Data-parallel training over Open MPI: the communicator, its MPI binding, gradient averaging, ZeRO 1/2, launching with mpirun.
export * from './communicator';
export * from './world';
export { buildMpiAddon, defaultMpiCacheDir, MPI_INSTALL_HINT, mpiFlags, type MpiAddon, type MpiBuildOptions, type MpiBuildResult } from './mpi-build';
export { defaultCommunicator, MpiCommunicator, MpiUnavailableError, setDefaultCommunicator } from './mpi-communicator';
export * from './data-parallel';
export { flatLayout, packFlat, ZeroShard, type FlatEntry } from './zero';
export { DEFAULT_HOSTFILE, DEPLOYMENT_KINDS, GRACEFUL_STOP_SIGNAL, HostfileError, mpirunProblem, parseHostfile, planLaunch, readHostfile, runLaunch, type DeploymentKind, type HostSlots, type LaunchOptions, type LaunchPlan } from './launch';
// How many CPUs this process may use (cgroup-aware): the launcher's default number of ranks on one host.
export { availableCpus } from '../backend/cpu-count';
