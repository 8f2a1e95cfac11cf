//! Object listings: ListObjects (v1), ListObjectsV2 and ListObjectVersions.

use super::*;

impl Cairn {
    pub(super) async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let mut input = req.input;
        // An empty delimiter is none, and is not echoed.
        input.delimiter = input.delimiter.filter(|d| !d.is_empty());
        let start_after = match &input.continuation_token {
            Some(token) => Some(decode_token(token)?),
            None => input.start_after.clone(),
        };
        let max_keys = input.max_keys.unwrap_or(1000);
        if max_keys < 0 {
            return Err(s3_error!(InvalidArgument, "max-keys must not be negative"));
        }
        let query = ListQuery {
            prefix: input.prefix.clone().unwrap_or_default(),
            delimiter: input.delimiter.clone(),
            start_after,
            max_keys: max_keys as usize,
        };
        let page = self.engine.list_objects(&input.bucket, &query).map_err(to_s3)?;
        let owner = if input.fetch_owner.unwrap_or(false) { Some(self.bucket_owner(&input.bucket)?) } else { None };
        let url = url_encoding(input.encoding_type.as_ref())?;
        let (contents, common_prefixes, last) = self.listing(&page, owner.as_ref(), url);
        let key_count = (contents.len() + common_prefixes.len()) as i32;
        let encode = |name: Option<String>| name.map(|n| listed_name(&n, url));
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: encode(input.prefix),
            delimiter: encode(input.delimiter),
            max_keys: Some(max_keys),
            key_count: Some(key_count),
            is_truncated: Some(page.is_truncated),
            continuation_token: input.continuation_token,
            next_continuation_token: page.is_truncated.then(|| last.map(|l| cairn_engine::hex(l.as_bytes()))).flatten(),
            start_after: encode(input.start_after),
            encoding_type: input.encoding_type,
            contents: Some(contents),
            common_prefixes: Some(common_prefixes),
            ..Default::default()
        }))
    }

    pub(super) async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let mut input = req.input;
        // An empty delimiter is none, and is not echoed.
        input.delimiter = input.delimiter.filter(|d| !d.is_empty());
        let max_keys = input.max_keys.unwrap_or(1000);
        if max_keys < 0 {
            return Err(s3_error!(InvalidArgument, "max-keys must not be negative"));
        }
        let query = ListQuery {
            prefix: input.prefix.clone().unwrap_or_default(),
            delimiter: input.delimiter.clone(),
            start_after: input.marker.clone(),
            max_keys: max_keys as usize,
        };
        let page = self.engine.list_objects(&input.bucket, &query).map_err(to_s3)?;
        let owner = self.bucket_owner(&input.bucket)?;
        let url = url_encoding(input.encoding_type.as_ref())?;
        let (contents, common_prefixes, last) = self.listing(&page, Some(&owner), url);
        let encode = |name: Option<String>| name.map(|n| listed_name(&n, url));
        // S3 returns NextMarker only when a delimiter was given; clients use the last key otherwise.
        let next_marker = (page.is_truncated && input.delimiter.is_some()).then_some(last).flatten();
        Ok(S3Response::new(ListObjectsOutput {
            name: Some(input.bucket),
            prefix: encode(input.prefix),
            // S3 echoes Marker, empty when none was given.
            marker: Some(encode(input.marker).unwrap_or_default()),
            delimiter: encode(input.delimiter),
            max_keys: Some(max_keys),
            is_truncated: Some(page.is_truncated),
            next_marker: encode(next_marker),
            encoding_type: input.encoding_type,
            contents: Some(contents),
            common_prefixes: Some(common_prefixes),
            ..Default::default()
        }))
    }

    pub(super) async fn list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        let mut input = req.input;
        input.delimiter = input.delimiter.filter(|d| !d.is_empty());
        let owner = self.bucket_owner(&input.bucket)?;
        let url = url_encoding(input.encoding_type.as_ref())?;
        let max_keys = input.max_keys.unwrap_or(1000);
        if max_keys < 0 {
            return Err(s3_error!(InvalidArgument, "max-keys must not be negative"));
        }
        let version_marker = match input.version_id_marker.as_deref().filter(|m| !m.is_empty()) {
            Some(_) if input.key_marker.as_deref().unwrap_or("").is_empty() => {
                return Err(s3_error!(
                    InvalidArgument,
                    "A version-id marker cannot be specified without a key marker."
                ));
            }
            other => version_param(other)?,
        };
        let query = cairn_engine::VersionQuery {
            prefix: input.prefix.clone().unwrap_or_default(),
            delimiter: input.delimiter.clone(),
            key_marker: input.key_marker.clone(),
            version_marker,
            max_keys: max_keys as usize,
        };
        let page = self.engine.list_versions(&input.bucket, &query).map_err(to_s3)?;
        let (mut versions, mut delete_markers, mut common_prefixes) = (Vec::new(), Vec::new(), Vec::new());
        let mut next = (None, None);
        for item in &page.items {
            match item {
                ListItem::Entry(entry) => {
                    let version_id = Some(entry.version.id.to_string());
                    match &entry.version.kind {
                        cairn_engine::VersionKind::Object(info) => versions.push(ObjectVersion {
                            key: Some(listed_name(&entry.key, url)),
                            version_id: version_id.clone(),
                            is_latest: Some(entry.is_latest),
                            e_tag: Some(etag(info)),
                            size: Some(info.size as i64),
                            last_modified: Some(timestamp(info.last_modified_ms)),
                            storage_class: Some(ObjectVersionStorageClass::from(
                                info.attributes.storage_class.as_str().to_owned(),
                            )),
                            owner: Some(owner.clone()),
                            checksum_algorithm: info.checksum.as_ref().map(|c| vec![checksum::to_dto(c.algorithm)]),
                            checksum_type: info.checksum.as_ref().map(|c| checksum::kind_to_dto(c.kind)),
                            ..Default::default()
                        }),
                        cairn_engine::VersionKind::DeleteMarker { last_modified_ms } => {
                            delete_markers.push(DeleteMarkerEntry {
                                key: Some(listed_name(&entry.key, url)),
                                version_id: version_id.clone(),
                                is_latest: Some(entry.is_latest),
                                last_modified: Some(timestamp(*last_modified_ms)),
                                owner: Some(owner.clone()),
                            })
                        }
                    }
                    next = (Some(entry.key.clone()), version_id);
                }
                ListItem::CommonPrefix(prefix) => {
                    common_prefixes.push(CommonPrefix { prefix: Some(listed_name(prefix, url)) });
                    next = (Some(prefix.clone()), None);
                }
            }
        }
        let encode = |name: Option<String>| name.map(|n| listed_name(&n, url));
        let (next_key_marker, next_version_id_marker) = if page.is_truncated { next } else { (None, None) };
        Ok(S3Response::new(ListObjectVersionsOutput {
            name: Some(input.bucket),
            prefix: encode(input.prefix),
            delimiter: encode(input.delimiter),
            key_marker: encode(input.key_marker),
            version_id_marker: input.version_id_marker,
            max_keys: Some(max_keys),
            is_truncated: Some(page.is_truncated),
            next_key_marker: encode(next_key_marker),
            next_version_id_marker,
            encoding_type: input.encoding_type,
            versions: Some(versions),
            delete_markers: Some(delete_markers),
            common_prefixes: Some(common_prefixes),
            ..Default::default()
        }))
    }
}

impl Cairn {
    /// Contents, common prefixes and the last item (key or prefix) of an object listing page.
    pub(super) fn listing(
        &self,
        page: &cairn_engine::Page<cairn_engine::ObjectEntry>,
        owner: Option<&Owner>,
        url: bool,
    ) -> (Vec<Object>, Vec<CommonPrefix>, Option<String>) {
        let (mut contents, mut common_prefixes, mut last) = (Vec::new(), Vec::new(), None);
        for item in &page.items {
            match item {
                ListItem::Entry(entry) => {
                    contents.push(Object {
                        key: Some(listed_name(&entry.key, url)),
                        size: Some(entry.info.size as i64),
                        e_tag: Some(etag(&entry.info)),
                        last_modified: Some(timestamp(entry.info.last_modified_ms)),
                        storage_class: Some(ObjectStorageClass::from(
                            entry.info.attributes.storage_class.as_str().to_owned(),
                        )),
                        owner: owner.cloned(),
                        checksum_algorithm: entry.info.checksum.as_ref().map(|c| vec![checksum::to_dto(c.algorithm)]),
                        checksum_type: entry.info.checksum.as_ref().map(|c| checksum::kind_to_dto(c.kind)),
                        ..Default::default()
                    });
                    last = Some(entry.key.clone());
                }
                ListItem::CommonPrefix(prefix) => {
                    common_prefixes.push(CommonPrefix { prefix: Some(listed_name(prefix, url)) });
                    last = Some(prefix.clone());
                }
            }
        }
        (contents, common_prefixes, last)
    }
}

/// Continuation tokens are the hex of the last key or prefix returned.
pub(super) fn decode_token(token: &str) -> S3Result<String> {
    let invalid = || s3_error!(InvalidArgument, "The continuation token provided is incorrect");
    if !token.len().is_multiple_of(2) || token.len() > 2 * cairn_engine::limits::KEY_BYTES_MAX {
        return Err(invalid());
    }
    let bytes: Result<Vec<u8>, _> =
        (0..token.len()).step_by(2).map(|i| u8::from_str_radix(&token[i..i + 2], 16)).collect();
    String::from_utf8(bytes.map_err(|_| invalid())?).map_err(|_| invalid())
}

/// Whether a listing asked for `encoding-type=url` (the only encoding S3 knows).
pub(super) fn url_encoding(encoding: Option<&EncodingType>) -> S3Result<bool> {
    match encoding.map(EncodingType::as_str) {
        None => Ok(false),
        Some(EncodingType::URL) => Ok(true),
        Some(_) => Err(s3_error!(InvalidArgument, "Invalid Encoding Method specified in Request")),
    }
}

/// A key or prefix as a listing shows it: URL-escaped when the request asked for
/// `encoding-type=url` (keys may hold bytes XML 1.0 cannot carry).
pub(super) fn listed_name(name: &str, url: bool) -> String {
    if url { percent_encoding::utf8_percent_encode(name, URL_PATH_ESCAPED).to_string() } else { name.to_owned() }
}
