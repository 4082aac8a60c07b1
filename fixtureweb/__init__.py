"""A generated web of brand sites served on 127.0.0.1 through a forward proxy: for the tests, the benchmarks and the demo.

``FixtureWeb`` (``fixtureweb.web``) runs it; ``fixtureweb.sites`` plans the sites and knows each one's true logo,
``fixtureweb.images`` draws the marks, ``fixtureweb.hostile`` builds the attacks.
"""
