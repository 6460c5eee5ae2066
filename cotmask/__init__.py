"""cotmask: Masked thought Fine-Tuning (MFT) — library, CLI and workflow.

Reproduction artifact of Chen et al., "Masked Thought: Simply Masking Partial Reasoning Steps Can
Improve Mathematical Reasoning Learning of Language Models", ACL 2024 (arXiv 2403.02178).
"""

__version__ = "0.1.0"
