// Public API of @rlhfkit/chat: chat sessions, prompt formats, streaming text, the generation engines and queue, the server (commands: ./cli).
export { ChatSession, type ChatReply, type ChatSessionOptions } from './chat-session';
export {
  ChatTemplateError, ChatTemplateFormat, chatTemplateOf, DS_ASSISTANT, DS_HUMAN, dsChatFormat, PROMPT_FORMATS, resolvePromptFormat,
  type ChatMessage, type ChatRole, type PromptFormat, type PromptFormatChoice, type ResolveFormatOptions,
} from './chat-format';
export { IncrementalDetokenizer, specialIdSet, syncDecoder, type SyncDecode } from './detokenizer';
export { StopStringMatcher, type StopResult } from './stop-strings';
export { CompletionText, type CompletionTextOptions, type FinishReason, type TextStep } from './completion-text';
export { needsPenalties, PenaltyProcessor, withLogitsProcessor, type RowPenalties } from './penalties';
export {
  describeModel, InProcessEngine, runOnModel, StopFlags, type EngineModelInfo, type EngineRequest, type EngineRow, type GenerationEngine,
  type SamplingParams, type TokenListener,
} from './engine';
export { WorkerEngine, type WorkerEngineOptions } from './worker-engine';
export { GenerationQueue, QueuedRun, QueueFullError, type QueueOptions, type RunOutcome } from './queue';
export { defaultSampling, loadServedModel, servedModel, type LoadServedModelOptions, type ServedModel, type ServedModelOptions } from './served-model';
export { REPL_PROMPT, roundBanner, runChatRepl, type ReplOptions } from './repl';
export { createServer, type ChatServer, type ListenInfo, type ServerOptions } from './server/http-server';
export { ApiError, type ApiErrorType, type OpenAIErrorBody } from './server/errors';
