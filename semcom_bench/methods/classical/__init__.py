"""Classical methods: the image itself over the channel, analog (``full-image``) or digital
(``digital``: source codec, LDPC, QAM)."""
