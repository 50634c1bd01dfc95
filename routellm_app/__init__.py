"""routellm_app: a Streamlit web demo of the router (``routellm-core ui`` or ``make ui``).

Four tabs: Route (one prompt's decision), Tune (share of strong calls -> threshold, the paper's
quality curve and the cost saving), Chat (a chat routed through the LangChain integration) and
Batch (route an uploaded prompt file). The app only displays what ``routellm_core`` and
``langchain_routellm`` decide; it has no routing logic of its own. Importing this package runs
nothing: Streamlit executes ``routellm_app/app.py`` as a script.
"""

APP_MODULE = "routellm_app.app"
