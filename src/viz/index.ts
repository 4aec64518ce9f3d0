// trax.viz: looking inside a model: summary table, structure diagram,
// attention maps, training curves, sparklines and an HTML report.
export { summary, formatSummary, type Summary, type SummaryRow, type SummaryTotals, type FormatSummaryOptions } from './summary.js';
export { modelDiagramSvg, type DiagramOptions } from './diagram.js';
export { captureAttention, attentionMapsSvg, type AttentionMap, type CaptureOptions, type AttentionSvgOptions } from './attention_maps.js';
export { trainingCurvesSvg, historySeries, type HistoryInput, type MetricRecord, type Series, type CurvesOptions } from './curves.js';
export { sparkline, trainingSparklines } from './sparkline.js';
export { writeReport, type ReportOptions, type ReportSample } from './report.js';
export { layerTree, flattenTree, isResidual, formatSignature, type LayerNode } from './tree.js';
