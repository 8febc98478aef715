"""Annotation tooling that sits above the evaluator.

The annotation *schema* is :mod:`llamatouch.essential` (a leaf the evaluator reads). This
package holds what builds and checks annotations and so may call the evaluator and the
dataset tooling: the automatic proposer (:mod:`.propose`, with the instruction/goal heuristics
in :mod:`.goal`), the self-test of an annotation against its own ground truth
(:mod:`.selftest`) and the proposer's generalisation study (:mod:`.generalisation`).
"""
