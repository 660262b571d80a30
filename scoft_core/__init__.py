"""SCoFT: self-contrastive fine-tuning of a Stable Diffusion model with LoRA.

The method of Liu et al., CVPR 2024. Never imports Django.
"""
