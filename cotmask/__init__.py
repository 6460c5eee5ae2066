"""cotmask: Masked thought Fine-Tuning (MFT) — library, CLI and workflow.

Reproduction artifact of Chen et al., "Masked Thought: Simply Masking Partial Reasoning Steps Can
Improve Mathematical Reasoning Learning of Language Models", ACL 2024 (arXiv 2403.02178).
"""

__version__ = "0.1.0"

#: Version of the floating-point path that turns data and a config into trained weights and decoded answers.
#: Two result folders can agree seed for seed only if they were made with the same version; it is written
#: into every ``summary.json``. Bumped when a change alters that path beyond what the config records:
#: 1 = up to session 5; 2 = session 6's label-position loss (``cotmask.loss``) and length buckets.
NUMERICS_VERSION = 2
