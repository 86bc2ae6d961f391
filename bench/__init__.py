"""`make bench`: what the serving stack costs over standalone vLLM, and how fast the chart harness is.

Run through `python -m bench` (bench/__main__.py); each benchmark module runs in a process of its
own (the full-path one imports Locust, which monkey-patches its process with gevent; the hop one is
a Ray driver).
Pure helpers (statistics, tables, targets, machine facts) live in stats.py and report.py.
"""
