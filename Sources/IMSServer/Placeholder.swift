enum _PlaceholderIMSServer {}
