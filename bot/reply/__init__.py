"""What a chat exchange is made of, shared by the conversation, every platform adapter and the scheduler: Request and
Reply (messages.py), a command's declaration and context (command.py), its parsed arguments (arguments.py), numbers
and dates in the asker's locale (formatting.py), the message catalogues (i18n.py, locales/), tables, a metric
result as a reply (render.py, made of wording.py, metric_lines.py, breakdown.py and footer.py), and the Sender
protocol (sender.py). It imports nothing else of bot, so alerts/ may use it."""
