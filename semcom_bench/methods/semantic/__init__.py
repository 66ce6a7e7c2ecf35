"""Semantic-map methods: one sender (:mod:`.maps`: the one-hot maps of the present classes and
the instance edges, analog over the channel) and receivers that synthesise an image from the
received maps (:mod:`.gesco`: the semantic diffusion receivers ``gesco`` and ``sdm``)."""
