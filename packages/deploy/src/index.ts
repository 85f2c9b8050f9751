// Public API of @rlhfkit/deploy: the one-script pipeline (DeepSpeed-Chat's e2e_rlhf.py), the built-in demo and its report (commands: ./cli).
export { DEPLOYMENT_TYPES, modelLabel, modelName, OPT_SIZES, repoRoot, sizeWord, stepOutputDir, stepScript, type DeploymentType, type StepNumber } from './steps';
export { hms, runPipeline, STEP_DONE_FILE, StepFailedError, stepFinished, timingTable, type PipelineOptions, type PipelineStep, type StepTiming } from './pipeline';
export { DEMO_ALGORITHMS, demoLayout, demoSteps, type DemoAlgorithm, type DemoLayout } from './demo';
export { demoReport, formatDemoReport, type DemoReport, type DemoReportOptions } from './report';
