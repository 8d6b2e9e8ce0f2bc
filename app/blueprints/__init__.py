"""One blueprint per URL prefix. Each declares how it is authenticated in `auth`."""
