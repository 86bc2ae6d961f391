"""Load tests for the OpenAI-compatible LLM service: Locust users, load shapes, autoscaling checker.

The modules that hold pure logic (wire format, prompts, metrics, status parsing, analysis) never
import Locust, because importing Locust monkey-patches the whole process with gevent.
"""
