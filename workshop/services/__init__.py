"""Write operations. No request, no current_user: every actor and input is an argument."""
