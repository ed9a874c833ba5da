"""rnnpanel: see how a recurrent network's hidden state carries information to a prediction.

Data flows one way: ``data`` → ``models`` → ``compute`` → ``store`` → ``pipeline`` → ``views`` → ``app``;
a module never imports one further down that list.
"""

__version__ = "0.1.0"
