//! The shared-backend leader lease: one row, judged by the database's clock, and the nodes
//! the backend heard from.

use super::*;

/// The lease holder as the database sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseHolder {
    pub node: String,
    pub api: String,
    /// Whether the lease has not run out (by the database's clock).
    pub valid: bool,
}

/// A node the backend heard from recently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSeen {
    pub node: String,
    pub api: String,
    pub first_seen: String,
    pub last_seen: String,
    /// Seen within the last `ActiveNodeExpireSeconds` (5 s).
    pub active: bool,
}

impl MySqlStore {
    /// Takes or renews the leader lease for `node` when it is free, expired, or already this
    /// node's; returns who holds it afterwards. Judged by the database's clock.
    pub async fn renew_lease(
        &self,
        node: &str,
        api: &str,
        lease: Duration,
    ) -> Result<LeaseHolder, StoreError> {
        let mut conn = self.conn().await?;
        let millis = lease.as_millis() as i64;
        // Assignments run left to right: `expires_at` is decided before `node` may change.
        conn.exec_drop(
            "INSERT INTO arbor_leader (anchor, node, api, expires_at) \
             VALUES (1, ?, ?, NOW(3) + INTERVAL ? * 1000 MICROSECOND) \
             ON DUPLICATE KEY UPDATE \
               expires_at = IF(node = VALUES(node) OR expires_at < NOW(3), VALUES(expires_at), expires_at), \
               api = IF(node = VALUES(node) OR expires_at = VALUES(expires_at), VALUES(api), api), \
               node = IF(expires_at = VALUES(expires_at), VALUES(node), node)",
            args![node, api, millis],
        )
        .await
        .map_err(query_error)?;
        conn.exec_drop(
            "INSERT INTO arbor_nodes (node, api, first_seen, last_seen) VALUES (?, ?, NOW(3), NOW(3)) \
             ON DUPLICATE KEY UPDATE api = VALUES(api), last_seen = NOW(3)",
            args![node, api],
        )
        .await
        .map_err(query_error)?;
        self.lease_holder_on(&mut conn)
            .await?
            .ok_or_else(|| StoreError::Query("the lease row vanished".into()))
    }

    async fn lease_holder_on(&self, conn: &mut Conn) -> Result<Option<LeaseHolder>, StoreError> {
        let row: Option<(String, String, i64)> = conn
            .query_first("SELECT node, api, expires_at > NOW(3) FROM arbor_leader WHERE anchor = 1")
            .await
            .map_err(query_error)?;
        Ok(row.map(|(node, api, valid)| LeaseHolder {
            node,
            api,
            valid: valid == 1,
        }))
    }

    pub async fn lease_holder(&self) -> Result<Option<LeaseHolder>, StoreError> {
        let mut conn = self.conn().await?;
        self.lease_holder_on(&mut conn).await
    }

    /// `grab-election`: this node takes the lease now, whoever holds it.
    pub async fn grab_lease(
        &self,
        node: &str,
        api: &str,
        lease: Duration,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        conn.exec_drop(
            "REPLACE INTO arbor_leader (anchor, node, api, expires_at) \
             VALUES (1, ?, ?, NOW(3) + INTERVAL ? * 1000 MICROSECOND)",
            args![node, api, lease.as_millis() as i64],
        )
        .await
        .map_err(query_error)
    }

    /// `reelect`: the lease is released; the next node to renew takes it.
    pub async fn release_lease(&self) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        conn.query_drop("DELETE FROM arbor_leader WHERE anchor = 1")
            .await
            .map_err(query_error)
    }

    /// Nodes seen in the last hour, the most recent first.
    pub async fn nodes(&self) -> Result<Vec<NodeSeen>, StoreError> {
        let mut conn = self.conn().await?;
        let rows: Vec<(String, String, String, String, i64)> = conn
            .query(
                "SELECT node, api, CAST(first_seen AS CHAR), CAST(last_seen AS CHAR), \
                     last_seen > NOW(3) - INTERVAL 5 SECOND \
                 FROM arbor_nodes WHERE last_seen > NOW(3) - INTERVAL 1 HOUR ORDER BY last_seen DESC",
            )
            .await
            .map_err(query_error)?;
        Ok(rows
            .into_iter()
            .map(|(node, api, first_seen, last_seen, active)| NodeSeen {
                node,
                api,
                first_seen,
                last_seen,
                active: active == 1,
            })
            .collect())
    }
}
