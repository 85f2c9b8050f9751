// Whether an answer does what a demo prompt asked: use the topic word, or start with the given opening words.
import { words } from './afinn';

/** What a demo prompt asks for, read back from its template; null for prompts that are not demo templates. */
export type DemoInstruction = { kind: 'topic'; word: string } | { kind: 'opening'; opening: string };

// Version 3 templates name the word or opening without quotes; version 2 quoted them.
const TOPIC = /the word (?:"([^"]+)"|([A-Za-z]+)\b)/;
const OPENING = /(?:begins with|begins|sentence:|starts with) (?:"([^"]+?)(?: \.\.\.)?"|(.+?)(?: \.\.\.|\.)(?=\s*(?:\n|$)))/;

/** Parses a demo prompt (rm-static form or the bare request). */
export function demoInstruction(prompt: string): DemoInstruction | null {
  const t = TOPIC.exec(prompt);
  if (t) return { kind: 'topic', word: (t[1] ?? t[2]).toLowerCase() };
  const o = OPENING.exec(prompt);
  if (o) return { kind: 'opening', opening: o[1] ?? o[2] };
  return null;
}

function normalize(s: string): string {
  return s.trim().replace(/\s+/g, ' ').toLowerCase();
}

/**
 * true when `answer` follows the demo prompt: a topic prompt's word appears in it as a word (any case), an opening
 * prompt's answer starts with the opening words (any case, spacing normalised); null when the prompt is not a demo
 * template.
 */
export function followsDemoInstruction(prompt: string, answer: string): boolean | null {
  const ins = demoInstruction(prompt);
  if (!ins) return null;
  if (ins.kind === 'topic') return words(answer).includes(ins.word);
  return normalize(answer).startsWith(normalize(ins.opening));
}
