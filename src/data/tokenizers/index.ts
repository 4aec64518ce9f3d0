export type { Tokenizer } from './types.js';
export { ByteTextEncoder, CharVocab, type CharVocabJSON } from './char.js';
export {
  SubwordTextEncoder, subwordTokenize, subwordDetokenize, escapeToken, unescapeToken,
  RESERVED_TOKENS, PAD, EOS, type SubwordBuildOptions,
} from './subword.js';
export {
  SentencePieceProcessor, parseModelProto, PieceType, SPACE_SYMBOL,
  type ModelProto, type SentencePiece, type TrainerSpec, type NormalizerSpec,
} from './sentencepiece.js';
export { BertTokenizer, bertBasicTokenize, type BertTokenizerOptions } from './bert.js';
export { ByteLevelBPE, GPT2_PATTERN, preTokenize, type BpeJSON, type BpeTrainOptions } from './bpe.js';
export { wtf8Encode, wtf8Decode, utf8Encode, utf8Decode } from './utf8.js';
export { WordTokenizer, wordTokenize, WORD_UNK, type WordVocabJSON } from './word.js';
