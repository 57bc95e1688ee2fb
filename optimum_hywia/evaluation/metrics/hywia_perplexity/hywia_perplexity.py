"""`evaluate` metric: perplexity of an in-memory model object (LLM-Pruner protocol), loadable offline.

Unlike the Hub's ``perplexity`` metric (which takes a model id and needs the Hub), this one takes the model and
tokenizer objects themselves and computes exactly what ``optimum_hywia.evaluation.perplexity`` computes: the texts
are joined by a blank line, tokenised once, cut into non-overlapping windows of ``seq_len`` tokens, and the
perplexity is ``exp`` of the mean negative log-likelihood of every predicted token.

Example:
    >>> import evaluate
    >>> from optimum_hywia.evaluation import perplexity_metric_path
    >>> metric = evaluate.load(perplexity_metric_path())                                    # doctest: +SKIP
    >>> metric.compute(predictions=[text], model=model, tokenizer=tokenizer, seq_len=128)   # doctest: +SKIP
    {'perplexity': 38.1, 'nll': 3.64, 'n_windows': 200, 'n_tokens': 25400}
"""

# One import per line: evaluate's import scanner misreads `import a, b`.
import datasets
import evaluate

from optimum_hywia.evaluation.perplexity import perplexity_report

_CITATION = """\
@inproceedings{liu2025hywia,
  title={Toward Adaptive Large Language Models Structured Pruning via Hybrid-grained Weight Importance Assessment},
  author={Liu, Jun and others},
  booktitle={AAAI},
  year={2025}
}
"""

_DESCRIPTION = """\
Perplexity of a causal language model object on a text, over non-overlapping windows of `seq_len` tokens (the last,
partial window is dropped), as in LLM-Pruner and HyWIA (128-token windows).
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of str): texts to score; they are joined with a blank line into one text.
    model (torch.nn.Module): the causal LM object (not an id).
    tokenizer: its tokenizer.
    seq_len (int): window length in tokens. Defaults to 128.
    max_windows (int, optional): score only the first windows. Defaults to all.
    batch_size (int): windows per forward pass. Defaults to 8.
Returns:
    perplexity (float), nll (float, mean negative log-likelihood), n_windows (int), n_tokens (int, predicted tokens).
"""

SEPARATOR = "\n\n"


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class HywiaPerplexity(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            module_type="metric",
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Value("string")}),
        )

    def _compute(self, predictions, model=None, tokenizer=None, seq_len=128, max_windows=None, batch_size=8):
        if model is None or tokenizer is None:
            raise ValueError("hywia_perplexity needs the model and tokenizer objects: pass model=... and tokenizer=...")
        report = perplexity_report(
            model,
            tokenizer,
            text=SEPARATOR.join(predictions),
            seq_len=seq_len,
            max_windows=max_windows,
            batch_size=batch_size,
            show_progress=False,
        )
        return {"perplexity": report["ppl"], "nll": report["nll"], "n_windows": report["n_windows"],
                "n_tokens": report["n_tokens"]}
