enum _PlaceholderIMSIngest {}
