"""What an administrator can do, once, for every entry point: the admin API's routes and
the console's pages both call these functions, which check, change, and write the audit
event naming the acting admin. They raise ``admin.problems.Problem`` (status and a
sentence for a person): the API renders it as RFC 9457 JSON, the console next to the form.
"""
