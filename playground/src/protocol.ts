// Messages between the page (main.ts) and the engine's worker (worker.ts).

export type Request =
  | { id: number; cmd: 'init'; models: ModelUrls }
  | { id: number; cmd: 'sort'; numbers: number[] }
  | { id: number; cmd: 'train'; steps: number }
  | { id: number; cmd: 'stop' }
  | { id: number; cmd: 'reverse'; numbers: number[] }
  | { id: number; cmd: 'download' }
  | { id: number; cmd: 'generate'; prompt: string; temperature: number; topK: number; length: number; seed: number }
  | { id: number; cmd: 'stopGenerate' };

export interface ModelUrls { sort: string; lmJson: string; lmWeights: string }

export interface InitResult { backend: string; note: string; diagram: string; summary: string; platform: string }

export interface TrainPoint { step: number; loss: number }
export interface EvalPoint { step: number; accuracy: number; sequenceAccuracy: number; evalLoss: number }

export type Reply =
  | { id: number; type: 'result'; value: unknown }
  | { id: number; type: 'error'; message: string }
  | { id: number; type: 'progress'; message: string }
  | { id: number; type: 'train'; points: TrainPoint[]; evals: EvalPoint[]; stepsPerSec: number; step: number; total: number }
  | { id: number; type: 'piece'; text: string };
