"""ID-GAN (identity-diversity inpainting, see ../shared/paper §III): networks, losses and data for training."""
