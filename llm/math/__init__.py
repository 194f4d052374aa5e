"""``endorm eval-math``: math benchmarks (MATH-500, AIME24, AMC, Minerva, OlympiadBench).

``data`` (loaders, ``last_boxed``) -> ``sampling`` (prompts, per-sample seeds) -> ``grading``
(math-verify in worker processes, pass@k) -> ``run`` (``MathEvalConfig``, ``run_eval_math``).
"""
