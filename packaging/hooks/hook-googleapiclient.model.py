"""Overrides the contrib hook, which bundles every Google API discovery document (about 50 MB): the app
builds only the Gmail v1 client, with static discovery (`build("gmail", "v1", static_discovery=True)`)."""

import os

from PyInstaller.utils.hooks import copy_metadata, get_module_file_attribute

datas = copy_metadata("google_api_python_client")
_documents = os.path.join(os.path.dirname(get_module_file_attribute("googleapiclient.discovery_cache")), "documents")
datas += [(os.path.join(_documents, "gmail.v1.json"), "googleapiclient/discovery_cache/documents")]
