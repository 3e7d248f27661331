"""Networks and GAN models. Importing this package imports Keras."""
