// Gradient checkpointing (recompute each decoder layer in backward); not training-run checkpoints (see src/run).
export {
  checkpointedLayerRunner, disableGradientCheckpointing, enableGradientCheckpointing, isGradientCheckpointingEnabled, layerVariables,
} from './gradient-checkpointing';
